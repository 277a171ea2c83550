# One logical queue = topic <prefix><queue>, the workers' subscription <topic>-<group> (dead-letter
# policy to <topic>-dlq, retry policy, ack deadline), <topic>-dlq with <topic>-dlq-sub (the dashboard
# reads dead letters there), and <topic>-delay with <topic>-delay-sub (the delay relay drains it).
# Mirrors PubSubResources.ensure (adapters/pubsub/resources.ts) and `npm run provision`.

resource "google_pubsub_topic" "queue" {
  for_each = toset(var.queues)
  name     = "${var.prefix}${each.key}"
}

resource "google_pubsub_topic" "dlq" {
  for_each                   = toset(var.queues)
  name                       = "${var.prefix}${each.key}-dlq"
  message_retention_duration = "1209600s"
}

resource "google_pubsub_topic" "delay" {
  for_each = toset(var.queues)
  name     = "${var.prefix}${each.key}-delay"
}

resource "google_pubsub_subscription" "queue" {
  for_each             = toset(var.queues)
  name                 = "${var.prefix}${each.key}-${var.group}"
  topic                = google_pubsub_topic.queue[each.key].id
  ack_deadline_seconds = var.lease_seconds

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dlq[each.key].id
    max_delivery_attempts = var.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "dlq" {
  for_each                   = toset(var.queues)
  name                       = "${var.prefix}${each.key}-dlq-sub"
  topic                      = google_pubsub_topic.dlq[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "delay" {
  for_each             = toset(var.queues)
  name                 = "${var.prefix}${each.key}-delay-sub"
  topic                = google_pubsub_topic.delay[each.key].id
  ack_deadline_seconds = var.relay_hold_seconds

  expiration_policy {
    ttl = ""
  }
}

# Without these two grants dead-lettering silently does nothing: the Pub/Sub service agent must be
# able to publish to the dead-letter topic and to acknowledge on the source subscription.
resource "google_pubsub_topic_iam_member" "dlq_publisher" {
  for_each = toset(var.queues)
  topic    = google_pubsub_topic.dlq[each.key].name
  role     = "roles/pubsub.publisher"
  member   = "serviceAccount:${local.pubsub_service_agent}"
}

resource "google_pubsub_subscription_iam_member" "source_subscriber" {
  for_each     = toset(var.queues)
  subscription = google_pubsub_subscription.queue[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${local.pubsub_service_agent}"
}
