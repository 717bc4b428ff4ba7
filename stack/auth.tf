resource "aws_cognito_user_pool" "this" {
  name                     = "${local.name}-users"
  deletion_protection      = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  mfa_configuration        = "OFF"
  username_attributes      = []
  auto_verified_attributes = []

  # Users are created by an administrator (no self sign-up); no passwords live in this repo.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = var.password_policy.minimum_length
    require_lowercase                = var.password_policy.require_lowercase
    require_uppercase                = var.password_policy.require_uppercase
    require_numbers                  = var.password_policy.require_numbers
    require_symbols                  = var.password_policy.require_symbols
    temporary_password_validity_days = var.password_policy.temporary_password_validity_days
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "admin_only"
      priority = 1
    }
  }
}

resource "aws_cognito_user_pool_client" "this" {
  name         = "${local.name}-client"
  user_pool_id = aws_cognito_user_pool.this.id

  generate_secret = false
  # SRP (the password never leaves the client) and refresh tokens everywhere; the plain password
  # flows only where var.password_auth_flows allows them (the sandbox: harness/users.py and the
  # integration tests sign in with USER_PASSWORD_AUTH).
  explicit_auth_flows = concat(
    ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    var.password_auth_flows ? ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"] : [],
  )
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true

  access_token_validity  = var.token_validity.access_minutes
  id_token_validity      = var.token_validity.id_minutes
  refresh_token_validity = var.token_validity.refresh_days
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}

resource "aws_cognito_user_group" "admins" {
  name         = var.admin_group_name
  user_pool_id = aws_cognito_user_pool.this.id
  description  = "Administrators: may read every notification and list by priority."
}

# Who may send (POST /notifications): members of this group only, checked by the ingest function
# (SENDER_GROUP) from the ID token's cognito:groups claim. A sender is a service account or an
# operator created by an administrator; everyone else reads their own notifications only.
# Why a group rather than an app client with the client-credentials flow and a `send` scope:
# see "Who may send" in README.md.
resource "aws_cognito_user_group" "senders" {
  name         = var.sender_group_name
  user_pool_id = aws_cognito_user_pool.this.id
  description  = "Senders: may send notifications to any user (by the recipient's sub)."
}
