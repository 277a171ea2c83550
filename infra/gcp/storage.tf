# Export files (exports/), export records and Pub/Sub claim checks (claim-checks/). Private (uniform
# access, public access prevention enforced), encrypted at rest with Google-managed keys (the default;
# add `encryption { default_kms_key_name = ... }` for a key of your own). The lifecycle mirrors
# bucketLifecycle() in infra/resources.ts.
resource "google_storage_bucket" "files" {
  name                        = var.bucket_name
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age            = var.export_ttl_days
      matches_prefix = ["exports/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age            = 15
      matches_prefix = ["claim-checks/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }
}
