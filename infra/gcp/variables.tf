variable "project_id" {
  type        = string
  description = "GOOGLE_CLOUD_PROJECT"
}

variable "region" {
  type        = string
  default     = "europe-west1"
  description = "Region of the bucket, the Firestore database and the Cloud Run services"
}

variable "prefix" {
  type        = string
  default     = ""
  description = "PUBSUB_TOPIC_PREFIX (e.g. prod-)"
}

variable "group" {
  type        = string
  default     = "workers"
  description = "PUBSUB_GROUP: the workers' subscription is <topic>-<group>"
}

variable "queues" {
  type        = list(string)
  default     = ["default", "emails", "exports"]
  description = "Every queue the shipped jobs use (test/infra.test.ts checks this list against the code), plus any of QUEUES"
}

variable "lease_seconds" {
  type        = number
  default     = 30
  description = "WORKER_LEASE_MS / 1000: the subscription's ack deadline (10-600)"
}

variable "max_delivery_attempts" {
  type        = number
  default     = 100
  description = "PUBSUB_MAX_DELIVERY_ATTEMPTS (5-100, above every job's maxAttempts)"
}

variable "relay_hold_seconds" {
  type        = number
  default     = 60
  description = "Ack deadline of the -delay subscriptions (the delay relay's hold)"
}

variable "bucket_name" {
  type        = string
  description = "GCS_BUCKET"
}

variable "export_ttl_days" {
  type        = number
  default     = 8
  description = "A day more than EXPORT_TTL_HOURS, so the cleanup job runs first"
}
