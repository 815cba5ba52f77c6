// Flex Consumption (FC1, Linux) plan and the Python function app. The app runs as a user-assigned
// managed identity: host storage, the deployment package, the connector's tables and Application
// Insights ingestion all authenticate with Entra ID; no keys or connection strings with secrets.

param planName string

param appName string

param location string

param tags object = {}

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

param storageAccountName string

@description('Primary blob endpoint of the storage account, ending with a slash.')
param storageBlobEndpoint string

@description('Primary table endpoint of the storage account (SCIM_STORAGE_TABLE_ENDPOINT).')
param storageTableEndpoint string

param deploymentContainerName string

param applicationInsightsName string

@description('SCIM_QUEUE_STORAGE__queueServiceUri: the queue endpoint (https://ACCOUNT.queue.core.windows.net/) of the deliver queue.')
param storageQueueEndpoint string

@description('SCIM_DELIVER_QUEUE: the queue of "tenant has due events" messages.')
param deliverQueueName string

@description('SCIM_WORK_QUEUE: the queue of the reconciler\'s work items (one per tenant and tick).')
param workQueueName string

@description('SCIM_TABLE_PREFIX: tables are <prefix>data, <prefix>tenants, <prefix>audit, <prefix>runs.')
param tablePrefix string

@description('RECONCILE_SCHEDULE: NCRONTAB schedule (UTC, six fields) of the reconciler timer.')
param reconcileSchedule string

@description('Python version on Flex Consumption; the project is tested on 3.11.')
@allowed([
  '3.11'
])
param pythonVersion string = '3.11'

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound of instances the app may scale out to (Flex Consumption accepts 1-1000).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Concurrent HTTP requests per instance.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 4

@description('Always-ready instances for the HTTP group (0 = scale to zero; each one is billed all the time).')
@minValue(0)
param alwaysReadyInstanceCount int = 0

@description('Zone-redundant plan (needs at least 2 always-ready instances per group to be effective).')
param zoneRedundant bool = false

@description('App settings the operator adds (name -> value). Merged into the settings below, so they survive re-provisioning; on a name clash the template\'s value wins.')
param extraAppSettings object = {}

@description('SCIM_MANAGE_AUDIENCE: the app registration whose Entra ID tokens (with the app role Connector.Admin) the management API accepts, in this deployment\'s directory. Empty = none.')
param manageAppClientId string = ''

// The management API's Entra sign-in: only when an app registration is named, and then in the
// directory the deployment lives in (a token of another directory is refused).
var manageSettings = empty(manageAppClientId) ? {} : {
  SCIM_MANAGE_ENTRA_TENANT_ID: tenant().tenantId
  SCIM_MANAGE_AUDIENCE: manageAppClientId
}

// 0 (the default) means scale to zero: no always-ready instance, no baseline charge.
// (Single-line form with parentheses: the offline Bicep parser mis-reads it otherwise.)
var alwaysReady = (alwaysReadyInstanceCount > 0) ? [{ name: 'http', instanceCount: alwaysReadyInstanceCount }] : []

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    // No FTP setting: Flex Consumption has no FTP/FTPS endpoint and ARM rejects the property on
    // Flex sites (tests/infra/test_flex_deprecations.py forbids Microsoft's whole list).
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        alwaysReady: alwaysReady
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// App settings live in their own resource so they can use the app's own default host name.
// Only documented settings: the identity-based host storage trio, Application Insights with Entra
// auth, and the settings the connector reads (shared/settings.py). This resource replaces the
// app's whole settings list on every deployment, so anything an operator adds must come in
// through extraAppSettings or it is lost on the next `azd provision`.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(extraAppSettings, manageSettings, {
    AzureWebJobsStorage__accountName: storageAccountName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // With host.json's telemetryMode OpenTelemetry, the Python worker configures the Azure
    // Monitor distro (requirements.txt) and exports its own logs, so the structured fields of
    // a record (shared/telemetry.py) arrive as custom dimensions; the exporter takes the
    // identity from the authentication string above (docs/operations.md).
    PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
    AZURE_CLIENT_ID: identityClientId
    SCIM_STORAGE_TABLE_ENDPOINT: storageTableEndpoint
    SCIM_PUBLIC_BASE_URL: 'https://${functionApp.properties.defaultHostName}'
    SCIM_TABLE_PREFIX: tablePrefix
    RECONCILE_SCHEDULE: reconcileSchedule
    // Queue-driven delivery: commits signal the deliver queue, its trigger delivers within
    // seconds. One connection prefix, identity-based, for the host's trigger (__credential,
    // __clientId) and the app's own sender (the URI, with AZURE_CLIENT_ID).
    SCIM_QUEUE_STORAGE__queueServiceUri: storageQueueEndpoint
    SCIM_QUEUE_STORAGE__credential: 'managedidentity'
    SCIM_QUEUE_STORAGE__clientId: identityClientId
    SCIM_DELIVER_QUEUE: deliverQueueName
    // The timer sends one work item per tenant; the work queue trigger runs each.
    SCIM_WORK_QUEUE: workQueueName
  })
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
