# One service account per process kind, each with only what it calls.
#   API:    publishes jobs (queue and -delay topics), checks subscriptions (readyz), reads and redrives
#           dead letters (the dashboard), files and records in the bucket, the ledger, and signs V4
#           download URLs (signBlob on itself).
#   worker: pulls (queue and -delay subscriptions), publishes follow-up jobs, delayed retries and dead
#           letters, files and claim checks in the bucket, the ledger.
resource "google_service_account" "api" {
  account_id   = "conveyor-api"
  display_name = "Conveyor API (Cloud Run)"
}

resource "google_service_account" "worker" {
  account_id   = "conveyor-worker"
  display_name = "Conveyor worker (Cloud Run)"
}

locals {
  api    = "serviceAccount:${google_service_account.api.email}"
  worker = "serviceAccount:${google_service_account.worker.email}"
  topic_grants = merge(
    { for q in var.queues : "api-queue-${q}" => { topic = google_pubsub_topic.queue[q].name, member = local.api } },
    { for q in var.queues : "api-delay-${q}" => { topic = google_pubsub_topic.delay[q].name, member = local.api } },
    { for q in var.queues : "worker-queue-${q}" => { topic = google_pubsub_topic.queue[q].name, member = local.worker } },
    { for q in var.queues : "worker-delay-${q}" => { topic = google_pubsub_topic.delay[q].name, member = local.worker } },
    { for q in var.queues : "worker-dlq-${q}" => { topic = google_pubsub_topic.dlq[q].name, member = local.worker } },
  )
  subscriber_grants = merge(
    { for q in var.queues : "worker-queue-${q}" => { subscription = google_pubsub_subscription.queue[q].name, member = local.worker } },
    { for q in var.queues : "worker-delay-${q}" => { subscription = google_pubsub_subscription.delay[q].name, member = local.worker } },
    { for q in var.queues : "api-dlq-${q}" => { subscription = google_pubsub_subscription.dlq[q].name, member = local.api } },
  )
  viewer_grants = merge(
    { for q in var.queues : "api-${q}" => { subscription = google_pubsub_subscription.queue[q].name, member = local.api } },
    { for q in var.queues : "worker-${q}" => { subscription = google_pubsub_subscription.queue[q].name, member = local.worker } },
  )
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.topic_grants
  topic    = each.value.topic
  role     = "roles/pubsub.publisher"
  member   = each.value.member
}

resource "google_pubsub_subscription_iam_member" "subscriber" {
  for_each     = local.subscriber_grants
  subscription = each.value.subscription
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}

resource "google_pubsub_subscription_iam_member" "viewer" {
  for_each     = local.viewer_grants
  subscription = each.value.subscription
  role         = "roles/pubsub.viewer"
  member       = each.value.member
}

# Objects only (create, read, list, delete): no bucket administration.
resource "google_storage_bucket_iam_member" "objects" {
  for_each = { api = local.api, worker = local.worker }
  bucket   = google_storage_bucket.files.name
  role     = "roles/storage.objectUser"
  member   = each.value
}

# The job ledger (Firestore reads and writes; no index or database administration).
resource "google_project_iam_member" "ledger" {
  for_each = { api = local.api, worker = local.worker }
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = each.value
}

# V4 signed download URLs without a key file: the API signs with its own identity (iam signBlob).
resource "google_service_account_iam_member" "api_signs_urls" {
  service_account_id = google_service_account.api.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.api
}
