output "api_service_account" {
  value = google_service_account.api.email
}

output "worker_service_account" {
  value = google_service_account.worker.email
}

output "bucket" {
  value = google_storage_bucket.files.name
}

output "subscriptions" {
  value = { for q in var.queues : q => google_pubsub_subscription.queue[q].name }
}
