# The job ledger (JOB_STORE=firestore): collections conveyor-jobs, conveyor-claims, conveyor-counters.
# The composite indexes its queries need (the emulator needs none; the service refuses the queries
# without them) are also in firestore.indexes.json for `firebase deploy --only firestore:indexes`.
resource "google_firestore_database" "default" {
  name        = "(default)"
  location_id = var.region
  type        = "FIRESTORE_NATIVE"
  depends_on  = [google_project_service.apis]
}

resource "google_firestore_index" "jobs_owner_created" {
  database   = google_firestore_database.default.name
  collection = "conveyor-jobs"
  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "jobs_owner_status_created" {
  database   = google_firestore_database.default.name
  collection = "conveyor-jobs"
  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "jobs_owner_type_created" {
  database   = google_firestore_database.default.name
  collection = "conveyor-jobs"
  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }
  fields {
    field_path = "type"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "jobs_status_created" {
  database   = google_firestore_database.default.name
  collection = "conveyor-jobs"
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "jobs_queue_status_created" {
  database   = google_firestore_database.default.name
  collection = "conveyor-jobs"
  fields {
    field_path = "queue"
    order      = "ASCENDING"
  }
  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "createdAt"
    order      = "DESCENDING"
  }
}

# Firestore deletes a finished job's document after its expireAt (within a day or so: never rely on it).
resource "google_firestore_field" "jobs_ttl" {
  database   = google_firestore_database.default.name
  collection = "conveyor-jobs"
  field      = "expireAt"
  ttl_config {}
  index_config {}
}
