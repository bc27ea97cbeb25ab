# The nightly matrix, computed from versions.json so that no pipeline repeats a version:
# the requested Istio versions (workflow_dispatch input, comma- or space-separated) or, when
# none are requested, `istio.supported`, each crossed with the pinned kind node image.
#
#   jq -c --arg requested "$REQUESTED_ISTIO_VERSIONS" -f ci/github/matrix.jq versions.json
#
# Only `kind.nodeImage` is crossed: versions.json pins no other node image whose digest was
# checked against kind's release notes. Add more images there, not here.

def requested_versions:
  [$requested | splits("[,\\s]+") | select(length > 0)]
  | map(
      if test("^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.]+)?$") then .
      else error("not an Istio version: \"\(.)\" (expected MAJOR.MINOR.PATCH)")
      end
    );

# `kindest/node:vX.Y.Z@sha256:…` → `vX.Y.Z`, the label shown in the job name.
def kubernetes_version: capture(":(?<tag>v[0-9][^@]*)").tag;

requested_versions as $requested_versions
| (if ($requested_versions | length) > 0 then $requested_versions else .istio.supported end) as $istio
| [.kind.nodeImage] as $node_images
| {
    include: [
      $istio[] as $version
      | $node_images[] as $image
      | {istio: $version, node_image: $image, kubernetes: ($image | kubernetes_version)}
    ]
  }
