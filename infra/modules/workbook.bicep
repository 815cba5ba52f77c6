// An Azure Monitor workbook with the console's views, over the connector's Application Insights.
// Its content is infra/workbook.json (the items and their KQL); the structured fields it reads
// are written by shared/telemetry.py (docs/operations.md, "Alerts and the workbook").

param applicationInsightsName string

param location string

param tags object = {}

@description('Name shown in the portal\'s Workbooks gallery.')
param displayName string = 'SCIM connector'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// A workbook's name must be a GUID; this one is stable per component, so re-provisioning
// updates it in place.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsights.id, 'scim-connector-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: loadTextContent('../workbook.json')
  }
}

output workbookId string = workbook.id
