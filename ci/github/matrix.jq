# The nightly matrix, computed from versions.json so that no pipeline repeats a version:
# the requested Istio versions (workflow_dispatch input, comma- or space-separated) or, when
# none are requested, `istio.supported`, each crossed with the pinned kind node image.
# Unless versions are requested, upgrade pairs come next to the per-version runs: each other
# supported minor's pinned patch upgraded to `istio.default` (n-1 -> n, n-2 -> n), through
# `--upgrade-from`. Every entry carries `upgrade_from` ("" for a plain run), a `label` for
# the job name and a `slug` for the reports artifact.
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
| .istio.default as $default
| (if ($requested_versions | length) > 0 then $requested_versions else .istio.supported end) as $istio
| [.kind.nodeImage] as $node_images
| (if ($requested_versions | length) > 0 then []
   else [.istio.supported[] | select(. != $default)] end) as $upgrade_from
| {
    include: (
      [
        $istio[] as $version
        | $node_images[] as $image
        | {istio: $version, node_image: $image, kubernetes: ($image | kubernetes_version),
           upgrade_from: "", label: $version, slug: "istio-\($version)"}
      ]
      + [
        $upgrade_from[] as $from
        | $node_images[] as $image
        | {istio: $default, node_image: $image, kubernetes: ($image | kubernetes_version),
           upgrade_from: $from, label: "\($from) -> \($default)",
           slug: "upgrade-\($from)-to-\($default)"}
      ]
    )
  }
