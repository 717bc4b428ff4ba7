# No endpoints here: tflocal injects them for the sandbox, AWS uses the real ones.
provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}
