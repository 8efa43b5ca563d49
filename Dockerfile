# The fake KMS v2 plugin (and the rest of the kmslab CLI) as an image, for the compose backend. Nothing in this
# build reaches a registry: node_modules come from the build context, never from `npm ci` inside the build.
#
# `kmslab build --images` builds it offline: NODE_IMAGE is then a local image (kmslab's Debian base plus this
# machine's own node binary) and the context is kmslab's sources with production node_modules installed from the
# host's npm cache. Elsewhere, `npm ci --omit=dev && docker build -t kmslab/fake-kms:local .` uses the default
# NODE_IMAGE, which your engine pulls: that is then your choice.
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}
WORKDIR /opt/kmslab
COPY . .
ENTRYPOINT ["node", "bin/kmslab.js"]
CMD ["fake-kms", "serve", "--socket=/run/kms/kms.sock", "--state-dir=/var/lib/fake-kms"]
