// The function app and everything it uses, in the resource group main.bicep creates.

@description('Region of every resource.')
param location string

@description('Tags of every resource.')
param tags object

@description('Short unique token for globally unique names.')
param resourceToken string

@description('azd service name (azure.yaml); the function app carries it as the azd-service-name tag.')
param serviceName string

@description('Blob container of tool components (NAME.wasm + NAME.toml).')
param componentsContainerName string

@description('Principal that publishes components (Storage Blob Data Contributor on the components container). Empty: none.')
param principalId string

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string

@secure()
@minLength(32)
@description('MCP_SESSION_KEY for every instance.')
param sessionKey string

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@minValue(0)
param alwaysReadyInstances int

@description('MCP_ALLOWED_ORIGINS; empty leaves it unset.')
param allowedOrigins string

param vnetEnabled bool

@description('With vnetEnabled: IPv4 addresses or CIDR ranges still allowed to reach storage (comma-separated).')
param storageAllowedIpAddresses string

@description('Create a container registry for components; the identity gets AcrPull on it.')
param containerRegistryEnabled bool

@description('MCP_COMPONENTS_OCI; empty leaves it unset.')
param componentsOci string

var functionAppName = 'func-mcp-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

// Built-in role definitions.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  acrPush: '8311e382-0749-4cb8-b61a-304f252e45ec'
}

var storageIpRules = [for ip in (empty(storageAllowedIpAddresses) ? [] : split(storageAllowedIpAddresses, ',')): {
  value: trim(ip)
  action: 'Allow'
}]

// Public by default, so that `make publish-component` works from a workstation.
var publicNetworkAcls = {
  defaultAction: 'Allow'
  bypass: 'AzureServices'
}
var privateNetworkAcls = {
  defaultAction: 'Deny'
  bypass: 'None'
  ipRules: storageIpRules
}

var alwaysReady = (alwaysReadyInstances > 0) ? [
  {
    name: 'http'
    instanceCount: alwaysReadyInstances
  }
] : []

// ---------------------------------------------------------------- identity

// The app's only identity: host storage, the deployment package, Application Insights,
// and (for the mcp-host binary, via AZURE_CLIENT_ID) the components container.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-mcp-${resourceToken}'
  location: location
  tags: tags
}

// ---------------------------------------------------------------- container registry

// Components as OCI artifacts (wkg/wassette layout), pulled with the identity: no admin
// user, no anonymous pull, no keys.
resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = if (containerRegistryEnabled) {
  name: 'crmcp${resourceToken}'
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
  }
}

// ---------------------------------------------------------------- storage

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: (vnetEnabled && empty(storageAllowedIpAddresses)) ? 'Disabled' : 'Enabled'
    networkAcls: vnetEnabled ? privateNetworkAcls : publicNetworkAcls
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Flex Consumption runs the app from the zip azd uploads here.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Tool components published with `make publish-component` (read by the host once
// hot swapping lands; today the package ships its components).
resource componentsContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: componentsContainerName
  properties: {
    publicAccess: 'None'
  }
}

// State the host's instances share (tasks, answers to input requests, session log
// levels): read and written by the identity, which owns the account's blobs already
// (hostStorageOwner below), so it needs no role of its own.
resource stateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'mcp-state'
  properties: {
    publicAccess: 'None'
  }
}

// ---------------------------------------------------------------- monitoring

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------- network (optional)

module network 'network.bicep' = if (vnetEnabled) {
  name: 'mcp-network'
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    storageAccountName: storage.name
  }
}

// ---------------------------------------------------------------- function app

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: vnetEnabled ? network!.outputs.appSubnetId : null
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: alwaysReady
      }
      // A native executable started by host.json (customHandler): the `custom` runtime.
      // FUNCTIONS_WORKER_RUNTIME must not be set on Flex Consumption.
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
  dependsOn: [
    deploymentContainer
  ]
}

// The environment mcp-host starts with (the Functions host passes app settings on and adds
// FUNCTIONS_CUSTOMHANDLER_PORT). No storage keys anywhere: identity-based connections only.
var baseAppSettings = {
  // Host storage (keys, locks) through the managed identity.
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  // The mcp-custom-handler configuration profile is a preview feature.
  AzureWebJobsFeatureFlags: 'EnableMcpCustomHandlerPreview'
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
  // Identity the host uses for its own Azure calls (components container).
  AZURE_CLIENT_ID: identity.properties.clientId
  // The Functions host proxies each request (YARP, default transforms) to
  // http://127.0.0.1:<port> with Host: 127.0.0.1:<port>, moving the public name to
  // X-Forwarded-Host. The public name is listed too, for a direct or future forward.
  MCP_ALLOWED_HOSTS: '127.0.0.1,${site.properties.defaultHostName}'
  MCP_SESSION_KEY: sessionKey
  // Hot swap: components published to this container (make publish-component) override
  // the package's, polled every 30 s with the identity above (AZURE_CLIENT_ID).
  MCP_COMPONENTS_CONTAINER_URL: '${storage.properties.primaryEndpoints.blob}${componentsContainerName}'
  MCP_POLL_INTERVAL_MS: '30000'
  // Shared state, so that any instance serves any request of a session or a task.
  MCP_STATE_ACCOUNT_URL: storage.properties.primaryEndpoints.blob
  MCP_STATE_CONTAINER: 'mcp-state'
  // Compiled components, on the instance's own disk: a restart there skips compiling.
  MCP_CACHE_DIR: '/tmp/mcp-host-cache'
  RUST_LOG: 'info'
}
var originAppSettings = empty(allowedOrigins) ? {} : {
  MCP_ALLOWED_ORIGINS: allowedOrigins
}

// Components from registries, pulled with the identity (its Entra token exchanged for a
// registry token; AZURE_CLIENT_ID names it).
var ociAppSettings = empty(componentsOci) ? {} : {
  MCP_COMPONENTS_OCI: componentsOci
  MCP_OCI_MANAGED_IDENTITY: 'true'
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(baseAppSettings, originAppSettings, ociAppSettings)
}

// ---------------------------------------------------------------- role assignments

// The Functions host's own storage (AzureWebJobsStorage: host keys, locks) and the
// deployment package: the role the platform requires for identity-based host storage.
resource hostStorageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'Functions host storage and deployment package'
  }
}

// What mcp-host itself needs: read the components container, nothing more.
resource componentsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(componentsContainer.id, identity.id, roles.storageBlobDataReader)
  scope: componentsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'mcp-host reads tool components'
  }
}

// Telemetry with Entra auth (DisableLocalAuth).
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'Application Insights ingestion'
  }
}

// mcp-host pulls components from the registry, nothing more.
resource registryReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (containerRegistryEnabled) {
  name: guid(resourceGroup().id, 'crmcp${resourceToken}', identity.id, roles.acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'mcp-host pulls tool components'
  }
}

// The deploying user pushes components (make publish-component OCI=...).
resource registryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (containerRegistryEnabled && !empty(principalId)) {
  name: guid(resourceGroup().id, 'crmcp${resourceToken}', principalId, roles.acrPush)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPush)
    principalId: principalId
    principalType: principalType
    description: 'make publish-component OCI=...'
  }
}

// The deploying user publishes components (az storage blob upload --auth-mode login).
resource componentsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(componentsContainer.id, principalId, roles.storageBlobDataContributor)
  scope: componentsContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: principalId
    principalType: principalType
    description: 'make publish-component'
  }
}

output functionAppName string = site.name
output defaultHostName string = site.properties.defaultHostName
output storageAccountName string = storage.name
output componentsContainerUrl string = '${storage.properties.primaryEndpoints.blob}${componentsContainerName}'
output identityClientId string = identity.properties.clientId
output containerRegistryLoginServer string = containerRegistryEnabled ? registry!.properties.loginServer : ''
