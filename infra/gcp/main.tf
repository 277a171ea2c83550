# Conveyor on Google Cloud: Pub/Sub queues with dead letters, the Cloud Storage bucket for exports
# and claim checks, the Firestore job ledger, and one service account each for the API and the worker
# (Cloud Run: one API service, one worker service). See infra/README.md, "Google Cloud".
terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

data "google_project" "this" {}

locals {
  # Google's Pub/Sub service agent: it moves messages to dead-letter topics.
  pubsub_service_agent = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_project_service" "apis" {
  for_each = toset([
    "pubsub.googleapis.com",
    "storage.googleapis.com",
    "firestore.googleapis.com",
    "run.googleapis.com",
    "iamcredentials.googleapis.com",
  ])
  service            = each.key
  disable_on_destroy = false
}
