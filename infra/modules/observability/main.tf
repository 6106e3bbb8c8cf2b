# What runs beside the chart: CloudWatch log groups, the controllers the EKS module made IRSA
# roles for, the monitoring stack the chart's PrometheusRule/ServiceMonitor/dashboards plug
# into, KEDA (+ HTTP add-on), Istio, the spot termination handler, and the NVIDIA GPU stack.
# Versions are pinned in var.chart_versions; namespaces match values.yaml
# (monitoring.namespace, networkPolicy.ingressNamespace, the KEDA interceptor's namespace).

locals {
  gpu_tolerations  = [{ key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule" }]
  spot_tolerations = [{ key = "spot", operator = "Equal", value = "true", effect = "NoSchedule" }]

  # NVIDIA device plugin time-slicing: each GPU is advertised as N schedulable shares.
  time_slicing_config = yamlencode({
    version = "v1"
    sharing = {
      timeSlicing = {
        renameByDefault            = var.gpu_time_slicing_rename
        failRequestsGreaterThanOne = true
        resources                  = [{ name = "nvidia.com/gpu", replicas = var.gpu_time_slicing_replicas }]
      }
    }
  })
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = var.log_groups

  name              = "/aws/containerinsights/${var.cluster_name}/${each.key}"
  retention_in_days = each.value
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

# --- Cluster controllers (IRSA roles from the eks module) --------------------------------------
resource "helm_release" "aws_load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = var.chart_versions.aws_load_balancer_controller
  namespace  = "kube-system"

  values = [yamlencode({
    clusterName = var.cluster_name
    region      = var.region
    vpcId       = var.vpc_id
    serviceAccount = {
      name        = "aws-load-balancer-controller"
      annotations = { "eks.amazonaws.com/role-arn" = var.load_balancer_controller_role_arn }
    }
    nodeSelector = { "node-group" = "general" }
  })]
}

resource "helm_release" "cluster_autoscaler" {
  name       = "cluster-autoscaler"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = var.chart_versions.cluster_autoscaler
  namespace  = "kube-system"

  values = [yamlencode({
    autoDiscovery = { clusterName = var.cluster_name }
    awsRegion     = var.region
    rbac = {
      serviceAccount = {
        name        = "cluster-autoscaler"
        annotations = { "eks.amazonaws.com/role-arn" = var.cluster_autoscaler_role_arn }
      }
    }
    extraArgs = {
      balance-similar-node-groups   = true
      expander                      = "priority,least-waste"
      skip-nodes-with-local-storage = false
    }
    nodeSelector = { "node-group" = "general" }
  })]
}

# --- Monitoring --------------------------------------------------------------------------------
resource "helm_release" "kube_prometheus_stack" {
  name             = "kube-prometheus-stack"
  repository       = "https://prometheus-community.github.io/helm-charts"
  chart            = "kube-prometheus-stack"
  version          = var.chart_versions.kube_prometheus_stack
  namespace        = "monitoring"
  create_namespace = true

  values = [yamlencode({
    prometheus = {
      prometheusSpec = {
        retention = var.prometheus_retention
        # The chart's PrometheusRule/ServiceMonitor carry release: kube-prometheus-stack.
        ruleSelector           = { matchLabels = { release = "kube-prometheus-stack" } }
        serviceMonitorSelector = { matchLabels = { release = "kube-prometheus-stack" } }
        storageSpec = {
          volumeClaimTemplate = {
            spec = {
              accessModes = ["ReadWriteOnce"]
              resources   = { requests = { storage = var.prometheus_storage_size } }
            }
          }
        }
      }
    }
    grafana = {
      admin = { existingSecret = var.grafana_admin_secret, userKey = "admin-user", passwordKey = "admin-password" }
      # The chart's dashboards are ConfigMaps labelled grafana_dashboard (values.yaml).
      sidecar = { dashboards = { enabled = true, label = "grafana_dashboard", searchNamespace = "ALL" } }
    }
  })]
}

# Serves the Pods metric the HPAs scale on (modelserve_pending_requests) from Prometheus.
resource "helm_release" "prometheus_adapter" {
  name       = "prometheus-adapter"
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "prometheus-adapter"
  version    = var.chart_versions.prometheus_adapter
  namespace  = "monitoring"

  values = [yamlencode({
    prometheus = { url = "http://kube-prometheus-stack-prometheus.monitoring.svc", port = 9090 }
    rules = {
      default = false
      custom = [{
        seriesQuery  = "modelserve_pending_requests{namespace!=\"\",pod!=\"\"}"
        resources    = { overrides = { namespace = { resource = "namespace" }, pod = { resource = "pod" } } }
        name         = { matches = "modelserve_pending_requests", as = "modelserve_pending_requests" }
        metricsQuery = "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"
      }]
    }
  })]

  depends_on = [helm_release.kube_prometheus_stack]
}

resource "helm_release" "loki" {
  name       = "loki"
  repository = "https://grafana.github.io/helm-charts"
  chart      = "loki"
  version    = var.chart_versions.loki
  namespace  = "monitoring"

  values = [yamlencode({
    deploymentMode = "SimpleScalable"
    loki = {
      auth_enabled = false
      schemaConfig = {
        configs = [{
          from         = "2024-04-01"
          store        = "tsdb"
          object_store = "s3"
          schema       = "v13"
          index        = { prefix = "loki_index_", period = "24h" }
        }]
      }
      storage = {
        type        = "s3"
        bucketNames = { chunks = var.loki_bucket_name, ruler = var.loki_bucket_name, admin = var.loki_bucket_name }
        s3          = { region = var.region }
      }
    }
    serviceAccount = {
      annotations = var.loki_role_arn == null ? {} : { "eks.amazonaws.com/role-arn" = var.loki_role_arn }
    }
  })]

  depends_on = [helm_release.kube_prometheus_stack]
}

# --- Autoscaling: KEDA and its HTTP add-on (scale to zero) -----------------------------------
resource "helm_release" "keda" {
  name             = "keda"
  repository       = "https://kedacore.github.io/charts"
  chart            = "keda"
  version          = var.chart_versions.keda
  namespace        = "keda"
  create_namespace = true

  values = [yamlencode({
    prometheus = { operator = { enabled = true, serviceMonitor = { enabled = true, additionalLabels = { release = "kube-prometheus-stack" } } } }
  })]

  depends_on = [helm_release.kube_prometheus_stack]
}

resource "helm_release" "keda_http_add_on" {
  # The chart's HTTPScaledObjects route through keda-add-ons-http-interceptor-proxy (values.yaml).
  name       = "keda-add-ons-http"
  repository = "https://kedacore.github.io/charts"
  chart      = "keda-add-ons-http"
  version    = var.chart_versions.keda_http_add_on
  namespace  = "keda"

  depends_on = [helm_release.keda]
}

# --- Istio: CRDs and base, control plane, ingress gateway ---------------------------------------
resource "helm_release" "istio_base" {
  name             = "istio-base"
  repository       = "https://istio-release.storage.googleapis.com/charts"
  chart            = "base"
  version          = var.chart_versions.istio
  namespace        = "istio-system"
  create_namespace = true
}

resource "helm_release" "istiod" {
  name       = "istiod"
  repository = "https://istio-release.storage.googleapis.com/charts"
  chart      = "istiod"
  version    = var.chart_versions.istio
  namespace  = "istio-system"

  values = [yamlencode({
    meshConfig = {
      accessLogFile = "/dev/stdout"
      # Sidecars wait for the proxy before the app starts and drain with it (the servers'
      # preStop/terminationGracePeriod assume the proxy outlives them).
      defaultConfig = { holdApplicationUntilProxyStarts = true }
    }
    pilot = { nodeSelector = { "node-group" = "general" } }
  })]

  depends_on = [helm_release.istio_base]
}

resource "helm_release" "istio_gateway" {
  name       = "istio-ingressgateway"
  repository = "https://istio-release.storage.googleapis.com/charts"
  chart      = "gateway"
  version    = var.chart_versions.istio
  namespace  = "istio-system"

  values = [yamlencode({
    service = {
      type = var.istio_gateway_service_type
      annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type"            = "external"
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type" = "ip"
        "service.beta.kubernetes.io/aws-load-balancer-scheme"          = "internet-facing"
      }
    }
    nodeSelector = { "node-group" = "general" }
  })]

  depends_on = [helm_release.istiod, helm_release.aws_load_balancer_controller]
}

# --- Spot: drain a node on its interruption notice ----------------------------------------------
resource "helm_release" "node_termination_handler" {
  name       = "aws-node-termination-handler"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-node-termination-handler"
  version    = var.chart_versions.node_termination_handler
  namespace  = "kube-system"

  values = [yamlencode({
    # IMDS mode: a DaemonSet on the spot nodes polls the instance metadata for notices.
    enableSpotInterruptionDraining = true
    enableRebalanceMonitoring      = true
    enableRebalanceDraining        = true
    enableScheduledEventDraining   = true
    # the taint is what kube-state-metrics exports (kube_node_spec_taint) and the
    # modelserve_node_spot_interruption recording rule reads
    taintNode                      = true
    nodeSelector                   = var.spot_node_selector
    tolerations                    = local.spot_tolerations
    enablePrometheusServer         = true
    podMonitor                     = { create = true, labels = { release = "kube-prometheus-stack" } }
  })]

  depends_on = [helm_release.kube_prometheus_stack]
}

# --- GPU: device plugin with time-slicing, DCGM metrics -----------------------------------------
resource "helm_release" "nvidia_device_plugin" {
  name             = "nvidia-device-plugin"
  repository       = "https://nvidia.github.io/k8s-device-plugin"
  chart            = "nvidia-device-plugin"
  version          = var.chart_versions.nvidia_device_plugin
  namespace        = "nvidia-device-plugin"
  create_namespace = true

  values = [yamlencode({
    config       = { map = { default = local.time_slicing_config }, default = "default" }
    nodeSelector = var.gpu_node_selector
    tolerations  = local.gpu_tolerations
  })]
}

resource "helm_release" "dcgm_exporter" {
  name       = "dcgm-exporter"
  repository = "https://nvidia.github.io/dcgm-exporter/helm-charts"
  chart      = "dcgm-exporter"
  version    = var.chart_versions.dcgm_exporter
  namespace  = "nvidia-device-plugin"

  values = [yamlencode({
    nodeSelector   = var.gpu_node_selector
    tolerations    = local.gpu_tolerations
    serviceMonitor = { enabled = true, additionalLabels = { release = "kube-prometheus-stack" } }
  })]

  depends_on = [helm_release.nvidia_device_plugin, helm_release.kube_prometheus_stack]
}
