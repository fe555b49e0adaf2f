{{/*
The rules of the two RBAC parts. Both are used twice: in ClusterRoles when the operator
watches every namespace, and in one Role per watched namespace otherwise. Rules that only
make sense cluster-wide (CRDs, namespaces, ClusterKopfPeerings) are added by the cluster
templates, never here.
*/}}

{{/* What Kopf itself needs, whatever the operator does with it. */}}
{{- define "dpo.rules.kopf" -}}
# Kopf posts the operator's Events (milestones and failures) on the objects it handles.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
{{- if and .Values.ha.enabled (not (include "dpo.clusterWide" .)) }}
# Peering: the processes of a namespaced operator meet in one KopfPeering per namespace.
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end }}

{{/* What the operator's own logic needs. It never writes to DaskClusters. */}}
{{- define "dpo.rules.application" -}}
# WorkerPlugins are ours: watched, and patched for the finalizer and Kopf's bookkeeping.
- apiGroups: [plugins.dask.org]
  resources: [workerplugins]
  verbs: [get, list, watch, patch]
- apiGroups: [plugins.dask.org]
  resources: [workerplugins/status]
  verbs: [get, patch]
# DaskClusters belong to the dask-kubernetes operator: read only.
- apiGroups: [kubernetes.dask.org]
  resources: [daskclusters]
  verbs: [get, list, watch]
# The scheduler's Service gives its address; its Pod tells when it restarted.
- apiGroups: [""]
  resources: [services, pods]
  verbs: [get, list, watch]
{{- end }}
