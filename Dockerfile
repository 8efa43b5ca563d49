# The fake KMS v2 plugin (and the rest of the kmslab CLI) as an image, for the compose backend.
FROM node:20-bookworm-slim
WORKDIR /opt/kmslab
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY fake-kms ./fake-kms
COPY sim ./sim
COPY gen ./gen
COPY harness ./harness
COPY scenarios ./scenarios
ENTRYPOINT ["node", "bin/kmslab.js"]
CMD ["fake-kms", "serve", "--socket=/run/kms/kms.sock", "--state-dir=/var/lib/fake-kms"]
