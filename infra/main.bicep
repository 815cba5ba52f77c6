// SCIM 2.0 provisioning connector for Microsoft Entra ID: Azure Functions (Python 3.11, Flex
// Consumption) + Azure Table Storage + Application Insights, all reached with one user-assigned
// managed identity. Deploy with `azd up`, or:
//   az deployment group create -g RG -f infra/main.bicep -p infra/main.parameters.json
targetScope = 'resourceGroup'

@description('Short name used in resource names and tags.')
@minLength(2)
@maxLength(12)
param baseName string = 'scim'

@description('Azure region; defaults to the resource group\'s region. Pick one that offers Flex Consumption.')
param location string = resourceGroup().location

@description('SCIM_TABLE_PREFIX (letters and digits, starting with a letter): tables <prefix>data, <prefix>tenants, <prefix>audit, <prefix>runs.')
@minLength(1)
@maxLength(20)
param tablePrefix string = 'scim'

@description('RECONCILE_SCHEDULE: NCRONTAB schedule (UTC, six fields) of the reconciler timer.')
param reconcileSchedule string = '0 */15 * * * *'

@description('Always-ready instances for HTTP (0 = scale to zero; each one is billed around the clock).')
@minValue(0)
@maxValue(10)
param alwaysReadyInstanceCount int = 0

@description('Upper bound of instances the app may scale out to (Flex Consumption accepts 1-1000).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Concurrent HTTP requests per instance (Flex default for Python is 1; SCIM calls mostly wait on Table Storage).')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 4

@description('Storage replication. LRS is the cheapest; ZRS/GZRS survive a zone outage.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param storageSkuName string = 'Standard_LRS'

@description('Zone-redundant Flex plan (Microsoft requires at least 2 always-ready instances per group with it).')
param zoneRedundant bool = false

@description('App settings to add to the function app (name -> value); kept on every re-provisioning. The template\'s own settings win on a name clash.')
param extraAppSettings object = {}

@description('Object id of the operator granted Storage Table Data Contributor for the admin CLI; azd fills it from AZURE_PRINCIPAL_ID. Empty = no grant.')
param operatorPrincipalId string = ''

@description('Kind of principal operatorPrincipalId names.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Log Analytics daily ingestion cap in GB.')
@minValue(1)
@maxValue(1000)
param logAnalyticsDailyCapGb int = 1

@description('Resource id of an existing action group the alert rules notify. Empty, and alertEmailAddress empty too = no alert rules.')
param alertActionGroupId string = ''

@description('E-mail address of a new action group the alert rules notify (when alertActionGroupId is empty). Both empty = no alert rules.')
param alertEmailAddress string = ''

@description('Application (client) id of the app registration whose Entra ID tokens, carrying the app role Connector.Admin, may call the management API and sign in to the console (SCIM_MANAGE_AUDIENCE; the directory is this deployment\'s tenant). Empty = the management API accepts no Entra token.')
param manageAppClientId string = ''

param tags object = {}

var resourceToken = toLower(uniqueString(resourceGroup().id, baseName, location))
var allTags = union(tags, {
  app: 'entra-scim-connector'
})
var functionAppName = 'func-${baseName}-${resourceToken}'
// Storage account names allow lowercase letters and digits only; baseName may carry capitals.
var storageAccountName = toLower(take('st${replace(baseName, '-', '')}${resourceToken}', 24))
// Table names must start with a letter and Bicep has no regular expressions, so the first
// character (@minLength(1) guarantees one) is checked against the alphabet; the storage module
// accepts only `true` here, which stops the deployment before any table or account is created.
// (Not fail(): checkov's pinned Bicep parser cannot read it.)
var letters = 'abcdefghijklmnopqrstuvwxyz'
var tablePrefixStartsWithLetter = contains(letters, toLower(first(tablePrefix)))
var tableNames = [
  '${tablePrefix}data'
  '${tablePrefix}tenants'
  '${tablePrefix}audit'
  '${tablePrefix}runs'
]
// Queue names are lower-case; the prefix is letters and digits, at most 20 of them.
var deliverQueueName = '${toLower(tablePrefix)}-deliver'
var workQueueName = '${toLower(tablePrefix)}-work'
var queueNames = [
  deliverQueueName
  '${deliverQueueName}-poison'
  workQueueName
  '${workQueueName}-poison'
]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${baseName}-${resourceToken}'
  location: location
  tags: allTags
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageAccountName
    location: location
    tags: allTags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    tableNames: tableNames
    queueNames: queueNames
    tablePrefixStartsWithLetter: tablePrefixStartsWithLetter
    principalId: identity.properties.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-${baseName}-${resourceToken}'
    applicationInsightsName: 'appi-${baseName}-${resourceToken}'
    location: location
    tags: allTags
    principalId: identity.properties.principalId
    dailyCapGb: logAnalyticsDailyCapGb
  }
}

// Log alert rules (infra/alerts/*.kql) only when someone is to be told: an action group or an
// address to e-mail. The workbook costs nothing until opened, so it is always there.
var alertsEnabled = !(empty(alertActionGroupId) && empty(alertEmailAddress))

module alerts 'modules/alerts.bicep' = if (alertsEnabled) {
  name: 'alerts'
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
    tags: allTags
    namePrefix: '${baseName}-${resourceToken}'
    actionGroupId: alertActionGroupId
    emailAddress: alertEmailAddress
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    location: location
    tags: allTags
  }
}

module function 'modules/function.bicep' = {
  name: 'function'
  params: {
    planName: 'plan-${baseName}-${resourceToken}'
    appName: functionAppName
    location: location
    tags: allTags
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    deliverQueueName: deliverQueueName
    workQueueName: workQueueName
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    tablePrefix: tablePrefix
    reconcileSchedule: reconcileSchedule
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    alwaysReadyInstanceCount: alwaysReadyInstanceCount
    zoneRedundant: zoneRedundant
    extraAppSettings: extraAppSettings
    manageAppClientId: manageAppClientId
  }
}

// No secrets here: names, host names and endpoints only. azd stores these in .azure/<env>/.env.
output AZURE_FUNCTION_APP_NAME string = function.outputs.name
output FUNCTION_APP_DEFAULT_HOST_NAME string = function.outputs.defaultHostName
output SCIM_PUBLIC_BASE_URL string = 'https://${function.outputs.defaultHostName}'
output SCIM_TENANT_URL_BASE string = 'https://${function.outputs.defaultHostName}/scim/v2/'
output SCIM_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
