# The roles' permissions, statement by statement. Everything the stack names starts with
# <project>-<environment> (stack/main.tf: local.name), so most statements are scoped by name.
# Where AWS cannot scope by name (KMS keys, Cognito user pools: their ARNs hold generated ids)
# they are scoped by the Project/Environment tags the stack puts on every resource; where it
# cannot scope at all (API Gateway REST APIs, Application Auto Scaling targets, List/Describe
# calls without resource-level permissions) the statement says so.
locals {
  name      = "${var.project}-${var.environment}"
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  in_region = "${local.partition}:%s:${var.region}:${local.account}"

  arn = {
    functions      = "arn:${format(local.in_region, "lambda")}:function:${local.name}-*"
    mappings       = "arn:${format(local.in_region, "lambda")}:event-source-mapping:*"
    roles          = "arn:${local.partition}:iam::${local.account}:role/${local.name}-*"
    queues         = "arn:${format(local.in_region, "sqs")}:${local.name}-*"
    topics         = "arn:${format(local.in_region, "sns")}:${local.name}-*"
    tables         = "arn:${format(local.in_region, "dynamodb")}:table/${local.name}-*"
    indexes        = "arn:${format(local.in_region, "dynamodb")}:table/${local.name}-*/index/*"
    keys           = "arn:${format(local.in_region, "kms")}:key/*"
    alias          = "arn:${format(local.in_region, "kms")}:alias/${local.name}"
    pools          = "arn:${format(local.in_region, "cognito-idp")}:userpool/*"
    alarms         = "arn:${format(local.in_region, "cloudwatch")}:alarm:${local.name}-*"
    dashboard      = "arn:${local.partition}:cloudwatch::${local.account}:dashboard/${local.name}"
    restapis       = "arn:${local.partition}:apigateway:${var.region}::/restapis"
    apigw_account  = "arn:${local.partition}:apigateway:${var.region}::/account"
    apigw_tags     = "arn:${local.partition}:apigateway:${var.region}::/tags/*"
    state_bucket   = "arn:${local.partition}:s3:::${var.state_bucket}"
    state_object   = "arn:${local.partition}:s3:::${var.state_bucket}/${var.state_key}"
    state_lockfile = "arn:${local.partition}:s3:::${var.state_bucket}/${var.state_key}.tflock"
    log_groups = [
      "arn:${format(local.in_region, "logs")}:log-group:/aws/lambda/${local.name}-*",
      "arn:${format(local.in_region, "logs")}:log-group:/aws/apigateway/${local.name}-*",
    ]
  }

  # Resources whose ARNs cannot carry the stack's name: only those tagged as the stack's.
  stack_tags     = { "aws:ResourceTag/Project" = var.project, "aws:ResourceTag/Environment" = var.environment }
  stack_tags_new = { "aws:RequestTag/Project" = var.project, "aws:RequestTag/Environment" = var.environment }

  # What Terraform reads to refresh the stack (plan) - no item, message or log event reads.
  read_statements = [
    { Sid = "ReadState", Effect = "Allow", Action = ["s3:GetObject"], Resource = [local.arn.state_object] },
    {
      Sid = "ListState", Effect = "Allow", Action = ["s3:ListBucket"], Resource = [local.arn.state_bucket]
      # The key, its lock file, and the workspace prefix `terraform init` lists.
      Condition = { StringLike = { "s3:prefix" = [var.state_key, "${var.state_key}.tflock", "env:/", "env:/*"] } }
    },
    { Sid = "ReadFunctions", Effect = "Allow", Action = ["lambda:Get*", "lambda:List*"], Resource = [local.arn.functions, local.arn.mappings] },
    { Sid = "ReadRoles", Effect = "Allow", Action = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListRoleTags"], Resource = [local.arn.roles] },
    { Sid = "ReadQueues", Effect = "Allow", Action = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags", "sqs:ListDeadLetterSourceQueues"], Resource = [local.arn.queues] },
    { Sid = "ReadTopics", Effect = "Allow", Action = ["sns:GetTopicAttributes", "sns:GetSubscriptionAttributes", "sns:ListTagsForResource", "sns:ListSubscriptionsByTopic"], Resource = [local.arn.topics] },
    { Sid = "ReadTables", Effect = "Allow", Action = ["dynamodb:Describe*", "dynamodb:ListTagsOfResource"], Resource = [local.arn.tables, local.arn.indexes] },
    { Sid = "ReadLogGroups", Effect = "Allow", Action = ["logs:ListTagsForResource", "logs:ListTagsLogGroup"], Resource = local.arn.log_groups },
    { Sid = "ReadAlarms", Effect = "Allow", Action = ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"], Resource = [local.arn.alarms] },
    { Sid = "ReadDashboard", Effect = "Allow", Action = ["cloudwatch:GetDashboard"], Resource = [local.arn.dashboard] },
    { Sid = "ReadKeys", Effect = "Allow", Action = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"], Resource = [local.arn.keys], Condition = { StringEquals = local.stack_tags } },
    { Sid = "ReadUserPools", Effect = "Allow", Action = ["cognito-idp:Describe*", "cognito-idp:GetUserPoolMfaConfig", "cognito-idp:GetGroup", "cognito-idp:ListTagsForResource"], Resource = [local.arn.pools], Condition = { StringEquals = local.stack_tags } },
    # REST API ids are generated: GET on this region's REST APIs and the account settings.
    { Sid = "ReadApis", Effect = "Allow", Action = ["apigateway:GET"], Resource = [local.arn.restapis, "${local.arn.restapis}/*", local.arn.apigw_account, local.arn.apigw_tags] },
    # List/Describe calls that take no resource ARN.
    {
      Sid    = "ReadUnscoped", Effect = "Allow", Resource = ["*"]
      Action = ["kms:ListAliases", "logs:DescribeLogGroups", "lambda:ListEventSourceMappings", "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies"]
    },
  ]

  deploy_statements = [
    { Sid = "WriteState", Effect = "Allow", Action = ["s3:PutObject"], Resource = [local.arn.state_object] },
    { Sid = "StateLock", Effect = "Allow", Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], Resource = [local.arn.state_lockfile] },
    {
      Sid    = "ManageFunctions", Effect = "Allow", Resource = [local.arn.functions]
      Action = ["lambda:CreateFunction", "lambda:DeleteFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency", "lambda:AddPermission", "lambda:RemovePermission", "lambda:TagResource", "lambda:UntagResource", "lambda:PublishVersion"]
    },
    {
      Sid       = "ManageMappings", Effect = "Allow", Resource = [local.arn.mappings]
      Action    = ["lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"]
      Condition = { ArnLike = { "lambda:FunctionArn" = local.arn.functions } }
    },
    # Mapping ids are generated: tags on this region's mappings.
    { Sid = "TagMappings", Effect = "Allow", Action = ["lambda:TagResource", "lambda:UntagResource"], Resource = [local.arn.mappings] },
    {
      Sid    = "ManageRoles", Effect = "Allow", Resource = [local.arn.roles]
      Action = ["iam:CreateRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:ListInstanceProfilesForRole"]
    },
    {
      Sid       = "AttachApiGatewayLogsPolicy", Effect = "Allow", Resource = [local.arn.roles]
      Action    = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
      Condition = { ArnEquals = { "iam:PolicyARN" = "arn:${local.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs" } }
    },
    {
      Sid       = "PassRoles", Effect = "Allow", Action = ["iam:PassRole"], Resource = [local.arn.roles]
      Condition = { StringEquals = { "iam:PassedToService" = ["lambda.amazonaws.com", "apigateway.amazonaws.com"] } }
    },
    {
      Sid       = "AutoScalingServiceRole", Effect = "Allow", Action = ["iam:CreateServiceLinkedRole"]
      Resource  = ["arn:${local.partition}:iam::${local.account}:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/*"]
      Condition = { StringEquals = { "iam:AWSServiceName" = "dynamodb.application-autoscaling.amazonaws.com" } }
    },
    { Sid = "ManageQueues", Effect = "Allow", Action = ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue"], Resource = [local.arn.queues] },
    { Sid = "ManageTopics", Effect = "Allow", Action = ["sns:CreateTopic", "sns:DeleteTopic", "sns:SetTopicAttributes", "sns:Subscribe", "sns:Unsubscribe", "sns:SetSubscriptionAttributes", "sns:TagResource", "sns:UntagResource"], Resource = [local.arn.topics] },
    {
      Sid    = "ManageTables", Effect = "Allow", Resource = [local.arn.tables, local.arn.indexes]
      Action = ["dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive", "dynamodb:UpdateContinuousBackups", "dynamodb:TagResource", "dynamodb:UntagResource"]
    },
    # Scalable targets have no name-based ARN; the actions accept no narrower resource.
    {
      Sid    = "ManageAutoScaling", Effect = "Allow", Resource = ["*"]
      Action = ["application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget", "application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy", "application-autoscaling:TagResource", "application-autoscaling:UntagResource", "application-autoscaling:ListTagsForResource"]
    },
    {
      Sid    = "ManageLogGroups", Effect = "Allow", Resource = local.arn.log_groups
      Action = ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:TagResource", "logs:UntagResource", "logs:TagLogGroup", "logs:UntagLogGroup"]
    },
    { Sid = "ManageAlarms", Effect = "Allow", Action = ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource", "cloudwatch:UntagResource"], Resource = [local.arn.alarms] },
    { Sid = "ManageDashboard", Effect = "Allow", Action = ["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"], Resource = [local.arn.dashboard] },
    { Sid = "CreateKey", Effect = "Allow", Action = ["kms:CreateKey", "kms:TagResource"], Resource = ["*"], Condition = { StringEquals = local.stack_tags_new } },
    {
      Sid    = "ManageKey", Effect = "Allow", Resource = [local.arn.keys], Condition = { StringEquals = local.stack_tags }
      Action = ["kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion", "kms:UpdateKeyDescription", "kms:TagResource", "kms:UntagResource", "kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
    },
    { Sid = "ManageAlias", Effect = "Allow", Action = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"], Resource = [local.arn.alias] },
    # DynamoDB encrypts the tables with the stack's key through grants it creates itself.
    {
      Sid       = "KeyGrantsForTables", Effect = "Allow", Action = ["kms:CreateGrant"], Resource = [local.arn.keys]
      Condition = { StringEquals = merge(local.stack_tags, { "kms:ViaService" = "dynamodb.${var.region}.amazonaws.com" }), Bool = { "kms:GrantIsForAWSResource" = "true" } }
    },
    { Sid = "CreateUserPool", Effect = "Allow", Action = ["cognito-idp:CreateUserPool"], Resource = ["*"], Condition = { StringEquals = local.stack_tags_new } },
    {
      Sid    = "ManageUserPool", Effect = "Allow", Resource = [local.arn.pools], Condition = { StringEquals = local.stack_tags }
      Action = ["cognito-idp:UpdateUserPool", "cognito-idp:DeleteUserPool", "cognito-idp:SetUserPoolMfaConfig", "cognito-idp:CreateUserPoolClient", "cognito-idp:UpdateUserPoolClient", "cognito-idp:DeleteUserPoolClient", "cognito-idp:CreateGroup", "cognito-idp:UpdateGroup", "cognito-idp:DeleteGroup", "cognito-idp:TagResource", "cognito-idp:UntagResource"]
    },
    # REST API ids are generated: this region's REST APIs, their tags and the account's
    # CloudWatch role setting (manage_api_gateway_account).
    {
      Sid    = "ManageApis", Effect = "Allow", Resource = [local.arn.restapis, "${local.arn.restapis}/*", local.arn.apigw_tags, local.arn.apigw_account]
      Action = ["apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"]
    },
  ]

  # The post-deploy suites and load test: sign test users in, send, trace and read what the
  # stack stored, logged and alarmed; pause mappings; their own test queues, functions (the
  # fault variants run under the stack's roles) and the second user pool of test_auth. No IAM
  # writes: the role-copy tests skip on AWS ("SKIPPED ON AWS"), by design of the suites.
  smoke_statements = [
    # Reads of what the stack stored; PutItem/DeleteItem for the items the suites store
    # themselves and remove afterwards (test_iam_grants: `stored`, `forget`).
    { Sid = "StackItems", Effect = "Allow", Action = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:DeleteItem"], Resource = [local.arn.tables, local.arn.indexes] },
    # The table and the topics are encrypted with the stack's key: item reads/writes and
    # publishes need it, through those services only.
    {
      Sid       = "StackKeyThroughServices", Effect = "Allow", Action = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"], Resource = [local.arn.keys]
      Condition = { StringEquals = merge(local.stack_tags, { "kms:ViaService" = ["dynamodb.${var.region}.amazonaws.com", "sns.${var.region}.amazonaws.com"] }) }
    },
    { Sid = "ReadLogs", Effect = "Allow", Action = ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams"], Resource = concat(local.arn.log_groups, ["arn:${format(local.in_region, "logs")}:log-group:/aws/lambda/faulty-*"]) },
    { Sid = "StackUsers", Effect = "Allow", Resource = [local.arn.pools], Condition = { StringEquals = local.stack_tags }, Action = ["cognito-idp:AdminCreateUser", "cognito-idp:AdminSetUserPassword", "cognito-idp:AdminAddUserToGroup", "cognito-idp:AdminGetUser", "cognito-idp:AdminDeleteUser", "cognito-idp:DescribeUserPoolClient"] },
    { Sid = "StackQueues", Effect = "Allow", Action = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"], Resource = [local.arn.queues] },
    { Sid = "StackTopics", Effect = "Allow", Action = ["sns:Publish", "sns:Subscribe", "sns:Unsubscribe", "sns:GetTopicAttributes"], Resource = [local.arn.topics] },
    { Sid = "StackFunctions", Effect = "Allow", Action = ["lambda:InvokeFunction", "lambda:GetFunction", "lambda:GetFunctionConfiguration"], Resource = [local.arn.functions] },
    {
      Sid       = "PauseMappings", Effect = "Allow", Action = ["lambda:UpdateEventSourceMapping", "lambda:GetEventSourceMapping"], Resource = [local.arn.mappings]
      Condition = { ArnLike = { "lambda:FunctionArn" = local.arn.functions } }
    },
    { Sid = "Alarms", Effect = "Allow", Action = ["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"], Resource = [local.arn.alarms] },
    # Test resources the suites name `<kind>-<random>`: queues and fault-variant functions.
    {
      Sid    = "TestQueues", Effect = "Allow", Resource = ["arn:${format(local.in_region, "sqs")}:alerts-test-*", "arn:${format(local.in_region, "sqs")}:faulty-*"]
      Action = ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:SetQueueAttributes", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"]
    },
    {
      Sid    = "TestFunctions", Effect = "Allow", Resource = ["arn:${format(local.in_region, "lambda")}:function:faulty-*"]
      Action = ["lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:InvokeFunction", "lambda:UpdateFunctionConfiguration"]
    },
    {
      Sid       = "TestMappings", Effect = "Allow", Resource = [local.arn.mappings]
      Action    = ["lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping", "lambda:GetEventSourceMapping"]
      Condition = { ArnLike = { "lambda:FunctionArn" = "arn:${format(local.in_region, "lambda")}:function:faulty-*" } }
    },
    {
      Sid       = "TestFunctionsRunAsStack", Effect = "Allow", Action = ["iam:PassRole"], Resource = [local.arn.roles]
      Condition = { StringEquals = { "iam:PassedToService" = "lambda.amazonaws.com" } }
    },
    # test_auth's second user pool (a token from another pool must be refused). Pools have
    # generated ids; the stack's own pool is excluded by the Deny below.
    {
      Sid    = "OtherUserPool", Effect = "Allow", Resource = [local.arn.pools]
      Action = ["cognito-idp:CreateUserPoolClient", "cognito-idp:AdminCreateUser", "cognito-idp:AdminSetUserPassword", "cognito-idp:DeleteUserPool"]
    },
    { Sid = "CreateOtherUserPool", Effect = "Allow", Action = ["cognito-idp:CreateUserPool"], Resource = ["*"] },
    { Sid = "NeverTheStacksPool", Effect = "Deny", Action = ["cognito-idp:DeleteUserPool", "cognito-idp:CreateUserPoolClient"], Resource = [local.arn.pools], Condition = { StringEquals = { "aws:ResourceTag/Project" = var.project } } },
    { Sid = "Metrics", Effect = "Allow", Action = ["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics", "logs:DescribeLogGroups"], Resource = ["*"] },
  ]

  # Inline policy of each role; plan and deploy also get the managed read policy (main.tf),
  # which keeps the deploy role's inline policy under IAM's 10,240 characters.
  policies = {
    plan   = []
    deploy = local.deploy_statements
    smoke  = local.smoke_statements
  }
}
