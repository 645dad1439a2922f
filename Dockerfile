# kiln's own image: Node 24, kiln with its production dependencies, and what each isolation mode
# needs (runc for oci and rootless, slirp4netns for RUN's network, uidmap's newuidmap/newgidmap
# for rootless, coreutils' chroot for chroot mode, which is what kiln picks in a container run
# without --privileged). kiln builds it, from the repository root after scripts/setup.sh:
#
#   kiln build -t kiln .                 # on debian:bookworm-slim, packages from Debian's mirrors
#   bash image/base.sh base.tar && kiln image import base.tar kiln-base:bookworm \
#     && kiln build --build-arg BASE=kiln-base:bookworm -t kiln .   # on an mmdebstrap rootfs
#
# The Node binary and the npm packages are the ones setup installed in node_modules (copied,
# not downloaded again); .dockerignore lets only those in.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS base
# A base made by image/base.sh already has the packages: apt runs only when one is missing.
RUN pkgs="runc slirp4netns uidmap attr ca-certificates"; \
    dpkg-query -W $pkgs >/dev/null 2>&1 || { apt-get update \
      && apt-get install -y --no-install-recommends $pkgs && rm -rf /var/lib/apt/lists/*; }
COPY node_modules/node/bin/node /usr/local/bin/node

# kiln: the launcher, the sources and the production npm packages.
FROM base AS app
WORKDIR /opt/kiln
COPY package.json ./
COPY node_modules/commander node_modules/commander
COPY node_modules/smol-toml node_modules/smol-toml
COPY node_modules/yaml node_modules/yaml
COPY bin bin
COPY src src
RUN mkdir -p node_modules/.bin && ln -s /usr/local/bin/node node_modules/.bin/node \
    && ln -s /opt/kiln/bin/kiln /usr/local/bin/kiln

# The start-up bundle (.cache/kiln.cjs, what `npm run bundle` makes): bin/kiln runs it while it
# is newer than every source in it, which it is, being made after the sources were copied.
FROM app AS bundle
COPY node_modules/esbuild node_modules/esbuild
COPY node_modules/@esbuild node_modules/@esbuild
COPY scripts/bundle.ts scripts/
RUN node scripts/bundle.ts

FROM app
COPY --from=bundle /opt/kiln/.cache .cache
RUN kiln version
# State in /var/lib/kiln (root's default): mount a volume there to keep the cache between runs.
WORKDIR /workspace
ENTRYPOINT ["kiln"]
CMD ["--help"]
