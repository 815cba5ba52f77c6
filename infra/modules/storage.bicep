// Storage account for the Functions host (AzureWebJobsStorage), the Flex Consumption deployment
// package, and the connector's own tables. Entra ID only: shared keys are disabled.
//
// Child resources are declared top-level with `parent:` (never nested), because the Bicep parser
// used by the offline tests (pycep-parser, and checkov through it) silently drops all but the last
// nested child of a resource.

@description('Storage account name (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

param location string

param tags object = {}

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Tables the connector uses: <prefix>data, <prefix>tenants, <prefix>audit, <prefix>runs.')
param tableNames array

@description('Queues the connector uses: the deliver and work queues and their poison queues (<queue>-poison, where the Functions host moves a message after maxDequeueCount failures).')
param queueNames array

@description('Whether the table prefix starts with a letter, as table names must. Only true is allowed, so a bad prefix stops the deployment here, before anything is created.')
@allowed([
  true
])
param tablePrefixStartsWithLetter bool

@description('Principal (object) id of the function app\'s user-assigned managed identity.')
param principalId string

@description('Principal (object) id of the operator who runs the admin CLI (azd passes AZURE_PRINCIPAL_ID); empty = no grant.')
param operatorPrincipalId string = ''

@description('Kind of principal operatorPrincipalId names.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('Replication. LRS is the cheapest; ZRS/GZRS survive a zone outage.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
])
param skuName string = 'Standard_LRS'

// Built-in role definition ids (documented, identical in every tenant).
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: false
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Declared, so operators find the poison queue before the host's first poisoned message.
resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

// Host storage (AzureWebJobsStorage: host locks, timer singleton and schedule monitor blobs) and
// the deployment container both live in this account, so the app identity needs Blob Data Owner
// here. Scoped to this storage account, not the resource group.
resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, storageBlobDataOwnerRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The connector's tables (and the host's diagnostic events). Scoped to this storage account: the
// app creates its tables if missing, which needs account-level table write.
resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, storageTableDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The deliver and work queues: the app sends "tenant has due events" messages after commits and
// the timer its work items, and the host's queue triggers read, update and delete them, and moves failed ones to the poison queue
// (creating it if missing: Message Processor cannot create queues). Scoped to this account.
resource queueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, storageQueueDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The operator's admin CLI (tenant create, token rotation) talks to the tables with the operator's
// own Entra identity, since shared keys are off. Granting it here makes the CLI work right after
// `azd up`. A value still reading `${...}` is an azd placeholder that nothing substituted (the
// parameters file used with plain `az deployment group create`): treated as "no operator".
// (Each negation in parentheses: the offline Bicep parser binds a bare `!` to the whole `&&`.)
var grantOperator = (!empty(operatorPrincipalId)) && (!startsWith(operatorPrincipalId, '$'))

resource operatorTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantOperator) {
  name: guid(storage.id, operatorPrincipalId, storageTableDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output tableEndpoint string = storage.properties.primaryEndpoints.table
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output deploymentContainerName string = deploymentContainer.name
