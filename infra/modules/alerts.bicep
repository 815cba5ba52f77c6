// Azure Monitor log alert rules over the connector's Application Insights: the KQL of each rule
// is in infra/alerts/*.kql and reads the structured fields the app logs (shared/telemetry.py),
// which arrive as custom dimensions through the Python worker's OpenTelemetry export
// (docs/operations.md, "Alerts and the workbook"). Every rule notifies one action group: the
// one given, or one created here that e-mails the given address.

param applicationInsightsName string

param location string

param tags object = {}

@description('Prefix of the rules\' names.')
param namePrefix string

@description('Resource id of an existing action group; empty = create one that e-mails emailAddress.')
param actionGroupId string = ''

@description('Address the created action group e-mails (used only when actionGroupId is empty).')
param emailAddress string = ''

@description('5xx share of SCIM requests (percent) that fires the 5xx alert.')
@minValue(1)
@maxValue(100)
param serverErrorRatePercent int = 5

@description('Authentication failures of one tenant in 30 minutes that fire the spike alert.')
@minValue(1)
param authFailureThreshold int = 20

@description('Age (minutes) of the oldest event waiting for its webhook that fires the backlog alert.')
@minValue(5)
param backlogAgeMinutes int = 60

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Action groups are global resources: their location is always 'global'.
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (empty(actionGroupId)) {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'scimalerts'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: emailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

var actionGroups = [
  empty(actionGroupId) ? actionGroup.id : actionGroupId
]

// 5xx share of SCIM requests above serverErrorRatePercent (at least 20 requests in the window).
resource serverErrorRate 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-scim-5xx-rate'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'SCIM 5xx rate'
    description: 'More than the threshold share of SCIM requests answered 5xx in 15 minutes: Entra retries them and quarantines the app after repeated failures. See docs/operations.md.'
    severity: 1
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/scim-5xx-rate.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'rate_percent'
          operator: 'GreaterThan'
          threshold: serverErrorRatePercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroups
    }
  }
}

// One alert per tenant whose authentication failures spike (a rotated Secret Token not updated
// in Entra, or someone guessing); "(unknown)" collects tenant ids that name no tenant.
resource authFailureSpike 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-scim-auth-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'SCIM authentication failures per tenant'
    description: 'A tenant\'s SCIM requests were refused by authentication (401/403) more than the threshold in 30 minutes. See docs/operations.md.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT30M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/auth-failures.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'failures'
          dimensions: [
            {
              name: 'tenant'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: authFailureThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroups
    }
  }
}

// Any event dead-lettered, per tenant: its receiver will not get it until someone replays it.
resource deadLetters 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-delivery-dead-letters'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Change-feed dead letters'
    description: 'Events of a tenant were dead-lettered after their last webhook delivery attempt; replay them once the receiver is fixed. See docs/operations.md.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/dead-letters.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'dead_letters'
          dimensions: [
            {
              name: 'tenant'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroups
    }
  }
}

// Reconciler errors, poisoned work, failed invocations, or repeatedly incomplete runs.
resource reconcilerProblems 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-reconciler-problems'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Reconciler errors or incomplete runs'
    description: 'The reconciler counted errors, poisoned work items or messages, failed, or stopped at its budget more than once in an hour. See docs/operations.md.'
    severity: 2
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/reconciler.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'problems'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroups
    }
  }
}

// A tenant's oldest event waiting for its webhook is older than backlogAgeMinutes.
resource backlogAge 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-delivery-backlog-age'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Change-feed delivery backlog age'
    description: 'A tenant\'s oldest event waiting for webhook delivery is older than the threshold: the receiver is down or too slow. See docs/operations.md.'
    severity: 3
    enabled: true
    scopes: [
      applicationInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/backlog-age.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'backlog_age_minutes'
          dimensions: [
            {
              name: 'tenant'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: backlogAgeMinutes
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: actionGroups
    }
  }
}

output actionGroupId string = actionGroups[0]
