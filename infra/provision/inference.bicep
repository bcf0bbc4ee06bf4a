// Inference endpoint for a LoRA adapter fine-tuned with the AI Toolkit template.
// Default names equal the fine-tuning template's, so its storage, share and environment are reused.
// inference.json is this file's hand-written ARM twin (tests keep them in sync): change both.

@description('Shell statements joined with "; " and run by /bin/bash -c as the container command.')
param defaultCommands array

@minValue(1)
@description('Maximum replicas of the app (and maximum nodes of a dedicated GPU profile).')
param maximumInstanceCount int = 1

@description('Azure region of the new resources.')
param location string = resourceGroup().location

@description('Storage account name; empty means aistorage<suffix>.')
param storageAccountName string = ''

@description('File share name; empty means aifileshare<suffix>.')
param fileShareName string = ''

@description('Container Apps environment name; empty means aienv<suffix>.')
param acaEnvironmentName string = ''

@description('Environment storage (share link) name; empty means aienvstorage<suffix>.')
param acaEnvironmentStorageName string = ''

@description('Container app name; empty means aiacaapp<suffix>.')
param acaAppName string = ''

@description('Log Analytics workspace name; empty means ailog<suffix>.')
param acaLogAnalyticsName string = ''

@allowed([
  'Consumption-GPU-NC8as-T4'
  'Consumption-GPU-NC24-A100'
  'NC24-A100'
])
@description('GPU workload profile type: serverless T4, serverless A100 or dedicated A100.')
param gpuProfileType string = 'Consumption-GPU-NC8as-T4'

@description('Other workload profiles of an existing environment that must stay (not Consumption, not this GPU profile).')
param existingWorkloadProfiles array = []

@minValue(0)
@description('maximumCount the reused environment\'s dedicated GPU profile has; the profile keeps the larger of it and maximumInstanceCount.')
param existingGpuMaximumCount int = 0

@minValue(0)
@description('Minimum replicas; 0 lets the app scale to zero (the next request waits for a cold start).')
param minReplicas int = 1

@minValue(1)
@description('Concurrent requests per replica above which the app scales out.')
param concurrentRequestsPerReplica int = 8

@description('Base model folder, relative to the share root; empty means auto (model-cache/<adapter base model>).')
param baseModelPath string = ''

@description('Adapter folder, relative to the share root; empty means auto (newest adapter under models/).')
param adapterPath string = ''

@description('Extra environment variables for the server, as [{name, value}].')
param extraEnv array = []

@secure()
@description('API key the server requires as a Bearer token; empty means no key. Kept as a Container Apps secret.')
param apiKey string = ''

@description('Container image; it must provide python3 with CUDA-enabled torch that inference_src/constraints.txt accepts.')
param containerImage string = 'pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime'

@description('Tags for the storage account, workspace, environment and app.')
param tags object = {}

var suffix = substring(uniqueString(resourceGroup().id), 0, 5)
var names = {
  storageAccount: empty(storageAccountName) ? 'aistorage${suffix}' : storageAccountName
  fileShare: empty(fileShareName) ? 'aifileshare${suffix}' : fileShareName
  environment: empty(acaEnvironmentName) ? 'aienv${suffix}' : acaEnvironmentName
  environmentStorage: empty(acaEnvironmentStorageName) ? 'aienvstorage${suffix}' : acaEnvironmentStorageName
  app: empty(acaAppName) ? 'aiacaapp${suffix}' : acaAppName
  logAnalytics: empty(acaLogAnalyticsName) ? 'ailog${suffix}' : acaLogAnalyticsName
}

// What each GPU profile type offers one replica. Serverless profiles have no node counts;
// dedicated ones do. The dedicated profile keeps the fine-tuning template's name, GPU.
var gpuProfiles = {
  'Consumption-GPU-NC8as-T4': {
    cpu: 8
    memory: '56Gi'
    workloadProfile: {
      name: 'GPU-T4'
      workloadProfileType: 'Consumption-GPU-NC8as-T4'
    }
  }
  'Consumption-GPU-NC24-A100': {
    cpu: 24
    memory: '220Gi'
    workloadProfile: {
      name: 'GPU-A100'
      workloadProfileType: 'Consumption-GPU-NC24-A100'
    }
  }
  'NC24-A100': {
    cpu: 24
    memory: '220Gi'
    workloadProfile: {
      name: 'GPU'
      workloadProfileType: 'NC24-A100'
      minimumCount: 0
      maximumCount: max(maximumInstanceCount, existingGpuMaximumCount)
    }
  }
}
var gpu = gpuProfiles[gpuProfileType]
var workloadProfiles = concat([
  {
    name: 'Consumption'
    workloadProfileType: 'Consumption'
  }
  gpu.workloadProfile
], existingWorkloadProfiles)

var serverPort = 7860
var shareMountPath = '/mount'
var shareVolumeName = 'share'
var apiKeySecretName = 'aitk-api-key'
var serverEnv = [
  {
    name: 'AITK_SHARE_ROOT'
    value: shareMountPath
  }
  {
    name: 'AITK_BASE_MODEL_PATH'
    value: baseModelPath
  }
  {
    name: 'AITK_ADAPTER_PATH'
    value: adapterPath
  }
  {
    // Named by the start's one-line error when the image's torch does not fit the requirements.
    name: 'AITK_IMAGE'
    value: containerImage
  }
]
var apiKeyEnv = empty(apiKey) ? [] : [
  {
    name: 'AITK_API_KEY'
    secretRef: apiKeySecretName
  }
]

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: names.storageAccount
  location: location
  tags: tags
  sku: {
    name: 'Standard_LRS'
  }
  kind: 'StorageV2'
  properties: {
    largeFileSharesState: 'Enabled'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
  }
}

resource fileService 'Microsoft.Storage/storageAccounts/fileServices@2025-01-01' = {
  parent: storageAccount
  name: 'default'
  properties: {
    shareDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource fileShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2025-01-01' = {
  parent: fileService
  name: names.fileShare
  properties: {
    shareQuota: 1024
  }
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-07-01' = {
  name: names.logAnalytics
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
  }
}

resource acaEnvironment 'Microsoft.App/managedEnvironments@2025-01-01' = {
  name: names.environment
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logAnalytics.properties.customerId
        sharedKey: logAnalytics.listKeys().primarySharedKey
      }
    }
    workloadProfiles: workloadProfiles
  }
}

// SMB mounts need the account key; managed identity is not supported for them.
resource envStorage 'Microsoft.App/managedEnvironments/storages@2025-01-01' = {
  parent: acaEnvironment
  name: names.environmentStorage
  properties: {
    azureFile: {
      accountName: storageAccount.name
      accountKey: storageAccount.listKeys().keys[0].value
      shareName: fileShare.name
      accessMode: 'ReadWrite'
    }
  }
}

resource acaApp 'Microsoft.App/containerApps@2025-01-01' = {
  name: names.app
  location: location
  tags: tags
  properties: {
    environmentId: acaEnvironment.id
    workloadProfileName: gpu.workloadProfile.name
    configuration: {
      activeRevisionsMode: 'Single'
      secrets: empty(apiKey) ? [] : [
        {
          name: apiKeySecretName
          value: apiKey
        }
      ]
      ingress: {
        external: true
        targetPort: serverPort
        transport: 'auto'
        allowInsecure: false
        // The Gradio queue keeps per-session state in one replica.
        stickySessions: {
          affinity: 'sticky'
        }
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
      }
    }
    template: {
      containers: [
        {
          name: names.app
          image: containerImage
          command: [
            '/bin/bash'
            '-c'
            join(defaultCommands, '; ')
          ]
          resources: {
            cpu: gpu.cpu
            memory: gpu.memory
          }
          env: concat(serverEnv, extraEnv, apiKeyEnv)
          volumeMounts: [
            {
              volumeName: shareVolumeName
              mountPath: shareMountPath
            }
          ]
          // Consumption profiles get no default probes. /health answers once the server listens (the
          // model loads after, under /ready), so startup covers the first start after the requirements
          // change: pip install, packing the environment to the share, or waiting for another replica
          // to do so and unpacking it. 635 s: about twice the slowest first start measured (infra/README.md);
          // every 10 s, so a later start gets traffic seconds after it listens. Startup allows up to 240
          // failures (readiness 48, liveness 30: hashicorp/terraform-provider-azurerm#31989).
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/health'
                port: serverPort
                scheme: 'HTTP'
              }
              initialDelaySeconds: 5
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 63
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/health'
                port: serverPort
                scheme: 'HTTP'
              }
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/ready'
                port: serverPort
                scheme: 'HTTP'
              }
              periodSeconds: 5
              timeoutSeconds: 3
              failureThreshold: 3
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maximumInstanceCount
        rules: [
          {
            name: 'http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequestsPerReplica)
              }
            }
          }
        ]
      }
      volumes: [
        {
          name: shareVolumeName
          storageType: 'AzureFile'
          storageName: envStorage.name
        }
      ]
    }
  }
}

output SUBSCRIPTION_ID string = subscription().subscriptionId
output RESOURCE_GROUP_NAME string = resourceGroup().name
output STORAGE_ACCOUNT_NAME string = storageAccount.name
output FILE_SHARE_NAME string = fileShare.name
output ACA_APP_NAME string = acaApp.name
output ACA_APP_ENDPOINT string = acaApp.properties.configuration.ingress.fqdn
output ACA_ENVIRONMENT_NAME string = acaEnvironment.name
output BASE_MODEL_PATH string = baseModelPath
output ADAPTER_PATH string = adapterPath
