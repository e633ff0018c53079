// mcp-host on Azure Functions, Flex Consumption plan (custom handler, runtime `custom`).
// Deployed by `make deploy` (azd up); see "Deploy to Azure" in the README.
//
// Creates, in one resource group: a user-assigned managed identity, a storage account
// (no shared keys) with the deployment container and the components container,
// Log Analytics + Application Insights (Entra auth only), the FC1 plan, the function app
// and its app settings, and the role assignments the identity needs. `vnetEnabled` adds
// a VNet, VNet integration, a NAT gateway and a private endpoint for blob storage.
//
// Only raw `resource` declarations (no `br/public:` modules): nothing here needs a
// registry to build.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption with the custom runtime: az functionapp list-flexconsumption-runtimes --location <region> --runtime custom')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create. Default: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the principal running the deployment (azd sets AZURE_PRINCIPAL_ID). It gets Storage Blob Data Contributor on the components container, for make publish-component. Empty: no role.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('Kind of principalId (azd sets AZURE_PRINCIPAL_TYPE).')
param principalType string = 'User'

@secure()
@minLength(32)
@description('Key that signs MCP session ids (MCP_SESSION_KEY), shared by every instance so that any of them accepts a session another opened. azd generates it once per environment and keeps it as a secret in the environment config (infra.parameters.sessionKey); with az deployment, pass one (e.g. openssl rand -hex 32).')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 48
      noSpecial: true
    }
  }
})
param sessionKey string

@allowed([
  512
  2048
  4096
])
@description('Memory of each instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('Most instances the platform may scale out to.')
param maximumInstanceCount int = 40

@minValue(0)
@description('Instances kept warm for HTTP (billed even when idle). 0 scales to zero; 1 removes most cold starts.')
param alwaysReadyInstances int = 0

@description('Origin header values the host accepts (MCP_ALLOWED_ORIGINS, comma-separated, e.g. https://example.com). Requests without Origin always pass. Empty: the host default, loopback origins only.')
param allowedOrigins string = ''

@description('Private networking: VNet integration for the app (outbound through a NAT gateway) and a private endpoint for blob storage, whose public network access is then disabled.')
param vnetEnabled bool = false

@description('With vnetEnabled: public IPv4 addresses or CIDR ranges (comma-separated) still allowed to reach the storage account, e.g. the workstation that runs make publish-component.')
param storageAllowedIpAddresses string = ''

@description('Create an Azure Container Registry for components (make publish-component OCI=...). The app\'s identity gets AcrPull on it, the deploying principal AcrPush; no admin user, no keys.')
param containerRegistryEnabled bool = false

@description('MCP_COMPONENTS_OCI: component references (registry/repository:tag or @sha256:digest), comma-separated, pulled with the app\'s managed identity. Empty: none.')
param componentsOci string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var componentsContainerName = 'components'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'app.bicep' = {
  name: 'mcp-app'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    serviceName: 'mcp'
    componentsContainerName: componentsContainerName
    principalId: principalId
    principalType: principalType
    sessionKey: sessionKey
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyInstances: alwaysReadyInstances
    allowedOrigins: allowedOrigins
    vnetEnabled: vnetEnabled
    storageAllowedIpAddresses: storageAllowedIpAddresses
    containerRegistryEnabled: containerRegistryEnabled
    componentsOci: componentsOci
  }
}

// azd writes these into .azure/<env>/.env; scripts/deploy.sh prints MCP_URL and
// scripts/publish-component.sh reads the storage account and container names.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output SERVICE_MCP_NAME string = app.outputs.functionAppName
output MCP_URL string = 'https://${app.outputs.defaultHostName}/mcp'
output AZURE_STORAGE_ACCOUNT_NAME string = app.outputs.storageAccountName
output COMPONENTS_CONTAINER_NAME string = componentsContainerName
output COMPONENTS_CONTAINER_URL string = app.outputs.componentsContainerUrl
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = app.outputs.identityClientId
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = app.outputs.containerRegistryLoginServer
