/**
 * Every KilnError code, declared once: what it means and, when one hint fits every place it is
 * raised, the hint a KilnError gets when its raiser gives none. Adding a code is one line here;
 * `node scripts/errors-doc.ts` then regenerates docs/errors.md.
 */

export interface ErrorInfo {
  /** One line: what went wrong, in the user's terms. */
  meaning: string;
  /** How to fix it, when the same advice holds wherever the code is raised. */
  hint?: string;
}

export const ERROR_CODES = {
  ADD_CHECKSUM_MISMATCH: {
    meaning: 'URL: digest mismatch: expected …, got … (ADD --checksum)',
    hint: 'the file at the URL changed, or --checksum is wrong',
  },
  ADD_DECOMPRESS_FAILED: { meaning: 'the decompressor for an ADDed archive failed' },
  ADD_DOWNLOAD_FAILED: {
    meaning: 'cannot download …: HTTP … … (or the server stopped sending)',
    hint: 'check the URL is reachable from this machine',
  },
  ADD_DOWNLOAD_TOO_LARGE: {
    meaning: "ADD's download at … is larger than … bytes",
    hint: 'download it yourself and COPY it from the context',
  },
  ADD_URL_UNSUPPORTED: {
    meaning: 'unsupported URL scheme in …',
    hint: 'ADD downloads http:// and https:// URLs',
  },
  ARCHIVE_INCOMPLETE: {
    meaning: 'an image archive lacks a file its index names',
    hint: 'the archive is truncated or was written by a tool that left content out; save it again',
  },
  ARCHIVE_INVALID: {
    meaning: 'an image archive is malformed (a member too large, bad JSON, a path outside it)',
  },
  BASE_IMAGE_RESOLVE: {
    meaning: "a base image's config could not be resolved",
    hint: 'check the image name and that the registry is reachable',
  },
  BLOB_CORRUPT: {
    meaning: 'blob … in … is corrupt: its content hashes to …',
    hint: 'run `kiln fsck` to list damaged blobs, delete them and pull or build the image again',
  },
  BLOB_NOT_FOUND: { meaning: 'blob … is not in the local content store' },
  BUILD_NOT_FOUND: {
    meaning: 'the build history has no build with that id (or the prefix names several)',
    hint: 'list recent builds with `kiln history`; the history keeps the last 50',
  },
  BUNDLE_BUSY: {
    meaning: 'cannot unmount everything under …',
    hint: 'something still uses a mount of this run; kiln left the directory in place',
  },
  CANCELED: {
    meaning: 'the operation was stopped by a signal or by its caller',
    hint: 'the command was stopped on request; run it again to finish it',
  },
  CHROOT_UNSUPPORTED: {
    meaning: 'a RUN needs something --isolation chroot cannot give (a mount, a network of its own)',
    hint: 'Run kiln with --isolation rootless or oci, or change the instruction.',
  },
  CHMOD_INVALID: {
    meaning: 'invalid --chmod value "…"',
    hint: 'use an octal mode such as 755 or symbolic clauses such as u+x,g-w',
  },
  CHOWN_INVALID: { meaning: 'a --chown user or group id is not valid' },
  CHOWN_UNKNOWN_GROUP: {
    meaning: 'unable to find group …: no matching entries in /etc/group of the destination',
    hint: 'create the group in an earlier step or use a numeric gid',
  },
  CHOWN_UNKNOWN_USER: {
    meaning: 'unable to find user …: no matching entries in /etc/passwd of the destination',
    hint: 'create the user in an earlier step (e.g. RUN useradd) or use a numeric uid',
  },
  COMPRESSED_DATA_CORRUPT: {
    meaning: 'gzip or zstd data is truncated or corrupt',
    hint: 'the layer or archive is damaged or was made that way; fetch it again from a source you trust',
  },
  COMPRESSION_UNSUPPORTED: {
    meaning: 'unsupported compression "…"',
    hint: 'use one of: uncompressed (none), gzip, zstd',
  },
  CONFIG_TOO_LARGE: {
    meaning: 'an image config is larger than kiln reads',
    hint: 'the image is malformed or hostile; use another image',
  },
  CONFIRMATION_NEEDED: {
    meaning: 'prune needs confirmation but stdin is not a terminal',
    hint: 'pass -f to prune without asking',
  },
  CONTEXT_DECOMPRESS_FAILED: { meaning: 'the decompressor for a build context tar failed' },
  CONTEXT_FILTER_UNSUPPORTED: {
    meaning: 'a directory source with include patterns cannot be used whole',
    hint: 'use it through COPY, which applies include patterns',
  },
  CONTEXT_FOLLOW_PATHS: { meaning: 'followPaths needs a directory root' },
  CONTEXT_NOT_DIRECTORY: {
    meaning: 'build context "…" is not a directory',
    hint: 'pass a directory; to use a tar archive as context, pipe it: kiln build - < context.tar',
  },
  CONTEXT_NOT_FOUND: { meaning: 'the build context does not exist' },
  CONTEXT_READ: { meaning: 'a file of the build context could not be read' },
  CONTEXT_TAR_INVALID: {
    meaning: 'cannot read the build context tar: …',
    hint: 'the context on stdin must be a tar archive (optionally gzip, bzip2, xz or zstd compressed)',
  },
  CONTEXT_WALK: { meaning: 'a file of the build context could not be looked at while walking it' },
  COPY_SOURCE_NOT_A_DIRECTORY: {
    meaning: 'the fixed part of a COPY source pattern is not a directory',
    hint: 'the part of a source pattern before its wildcard must name a directory of the context',
  },
  COPY_SOURCE_NOT_FOUND: { meaning: 'a COPY or ADD source is not in the context or stage' },
  CREDENTIAL_HELPER_FAILED: { meaning: 'a docker credential helper failed' },
  DIGEST_MISMATCH: { meaning: 'content does not hash to the digest it was expected to have' },
  DIGEST_STREAM_SHARED: {
    meaning: 'a layer stream the store takes the digest of was also read by something else (a bug in kiln)',
  },
  DIGEST_NOT_READY: { meaning: 'digest read before the stream ended' },
  DISK_FULL: {
    meaning: 'the state root ran out of space or quota',
    hint: 'free space there (kiln prune, kiln builder prune, kiln rmi) or choose a --root on a filesystem with room; nothing half-written was kept',
  },
  DOCKERFILE_BLANK_BASE: {
    meaning: 'a FROM base name expands to nothing',
    hint: 'define the ARG used in FROM before the first FROM, or pass it with --build-arg',
  },
  DOCKERFILE_CIRCULAR_DEPENDENCY: {
    meaning: 'stages depend on each other in a cycle',
    hint: 'a stage cannot copy from itself or from a stage that depends on it',
  },
  DOCKERFILE_COPY_ORDER: { meaning: 'an instruction refers to a stage not defined before it' },
  DOCKERFILE_EMPTY: {
    meaning: 'the Dockerfile cannot be empty (…)',
    hint: 'start it with a FROM instruction',
  },
  DOCKERFILE_EXPAND: {
    meaning: 'a word of the Dockerfile could not be expanded (bad variable syntax, or a :? error)',
    hint: 'check the variable syntax and the quoting of this word',
  },
  DOCKERFILE_FROM_VARIABLE: {
    meaning: 'COPY --from or RUN --mount from= uses a variable',
    hint: 'name the stage or image literally',
  },
  DOCKERFILE_INVALID_COPY: { meaning: 'a COPY or ADD instruction is not valid' },
  DOCKERFILE_INVALID_EPOCH: { meaning: 'SOURCE_DATE_EPOCH is not a Unix time' },
  DOCKERFILE_INVALID_INSTRUCTION: {
    meaning: 'an instruction is not valid where it stands or with those arguments',
  },
  DOCKERFILE_INVALID_MOUNT: {
    meaning: 'a RUN --mount has an invalid target',
    hint: 'mount over a directory other than /',
  },
  DOCKERFILE_INVALID_ONBUILD: { meaning: 'an ONBUILD trigger is not a single instruction' },
  DOCKERFILE_INVALID_PLATFORM: { meaning: 'a FROM --platform expands to nothing or to an invalid platform' },
  DOCKERFILE_INVALID_PORT: {
    meaning: 'an EXPOSE port is not valid',
    hint: 'write a port as 80, 80/udp, 8000-8010/tcp or [ip:]hostPort:containerPort[/proto]',
  },
  DOCKERFILE_INVALID_RUN: {
    meaning: 'parsing produced an invalid run command: […]',
    hint: 'heredocs work with the shell form of RUN only',
  },
  DOCKERFILE_INVALID_STAGE_INDEX: { meaning: 'a stage index is out of range' },
  DOCKERFILE_NOT_FILE: { meaning: 'dockerfile … is not a regular file', hint: 'point -f at a regular file' },
  DOCKERFILE_NOT_FOUND: { meaning: 'the Dockerfile does not exist' },
  DOCKERFILE_NO_STAGES: { meaning: 'the Dockerfile has no FROM' },
  DOCKERFILE_PARSE: { meaning: 'dockerfile parse error on line …: …' },
  DOCKERFILE_TARGET_NOT_FOUND: { meaning: 'the --target stage is not in the Dockerfile' },
  DOCKERFILE_TOO_LARGE: { meaning: 'the Dockerfile or what it expands to is larger than kiln accepts' },
  DOCKERFILE_WORD_TOO_LONG: { meaning: 'a word of the Dockerfile expands to more than 1 MiB' },
  DOCKERIGNORE_INVALID: {
    meaning: 'illegal exclusion pattern: "!"',
    hint: 'a "!" line must be followed by the pattern to re-include, e.g. "!docs/README.md"',
  },
  ENTITLEMENT_DENIED: {
    meaning: 'a step needs an entitlement (network.host, security.insecure) the build was not granted',
  },
  EXEC_BAD_MOUNT: { meaning: 'mount target "…" is not an absolute path' },
  EXEC_CANCELED: { meaning: 'a RUN process was killed because the build was canceled' },
  CACHE_LOCK_CANCELED: {
    meaning: "a RUN stopped waiting for a sharing=locked cache's lock (the RUN was canceled)",
  },
  EXEC_FAILED: {
    meaning: 'a RUN command exited with a non-zero status or was killed',
    hint: "Look at the output above for the command's own error.",
  },
  EXEC_GROUP_UNKNOWN: {
    meaning: 'group "…" is not in the image\'s /etc/group',
    hint: 'Create the group in an earlier step, or use a numeric gid.',
  },
  EXEC_NETWORK_UNAVAILABLE: { meaning: "cannot set up the RUN's network: …" },
  EXEC_NOT_FOUND: {
    meaning: "a RUN command's executable is not in the image",
    hint: 'Check the command and its path in the image, or install it in an earlier step.',
  },
  EXEC_PLATFORM_UNSUPPORTED: {
    meaning: "binaries of the step's platform cannot run here (no binfmt handler)",
  },
  EXEC_RUNTIME_FAILED: {
    meaning: 'runc could not start "…":\\n…',
    hint: 'The container setup failed before the command ran; this is a kiln or host problem.',
  },
  EXEC_RUNTIME_MISSING: {
    meaning: 'runc could not be started',
    hint: 'Install runc (apt-get install runc) or run scripts/setup.sh.',
  },
  EXEC_USER_UNKNOWN: {
    meaning: 'user "…" is not in the image\'s /etc/passwd',
    hint: 'Create the user in an earlier step (e.g. RUN adduser), or use a numeric uid.',
  },
  EXPORT_FAILED: { meaning: 'an output could not be exported' },
  FILEOP_CANNOT_REPLACE_DIR: {
    meaning: 'a COPY would replace a directory with a file',
    hint: 'remove the directory first or copy to a different path',
  },
  FILEOP_DEST_PARENT_MISSING: { meaning: 'the parent directory of a COPY destination does not exist' },
  FILEOP_INVALID_PATH: { meaning: 'a file operation names an invalid path' },
  FILEOP_NOT_A_DIRECTORY: {
    meaning: 'a file operation needs a directory where a file is',
    hint: 'a file or symlink to a file is in the way of a directory this step needs to create',
  },
  FILEOP_NOT_FOUND: { meaning: 'rm …: no such file or directory' },
  FILEOP_PARENT_MISSING: { meaning: "a file operation's parent directory does not exist" },
  FILEOP_PATH_LOOP: { meaning: 'a destination path does not settle (a symlink loop)' },
  FILEOP_UNSUPPORTED_TYPE: { meaning: 'a source is a file type COPY cannot copy' },
  FILE_TOO_LARGE: {
    meaning: 'a file kiln reads into memory is larger than its bound',
    hint: 'the image or context holds an oversized file where kiln expects a small one',
  },
  FIXTURE_MISSING: { meaning: 'busybox fixture … is missing', hint: 'run: sudo bash scripts/setup.sh' },
  FORMAT_FAILED: {
    meaning: 'a --format template failed to run',
    hint: 'check the field names against `--format "{{json .}}"`',
  },
  GATEWAY_FAILED: {
    meaning: 'a gateway frontend image failed: it exited non-zero or could not be run',
    hint: 'look at what the frontend printed on stderr (shown); it must print a graph and exit 0 (docs/gateway.md)',
  },
  GATEWAY_INVALID_OUTPUT: {
    meaning: 'a gateway frontend image printed something that is not a valid graph definition',
    hint: 'a frontend prints one graph definition in JSON on stdout and nothing else (docs/gateway.md)',
  },
  GATEWAY_OUTPUT_TOO_LARGE: { meaning: 'a gateway frontend image printed more than a graph may be (64 MiB)' },
  GATEWAY_TIMEOUT: { meaning: 'a gateway frontend image did not finish within its time limit' },
  GIT_SOURCE_FAILED: {
    meaning: 'cloning a git source failed',
    hint: 'check the repository URL and ref, and that git can reach it',
  },
  GRAPH_CYCLE: {
    meaning: 'a graph file has a cycle: a vertex reads itself through its inputs',
    hint: 'a graph is acyclic; regenerate it with `kiln debug graph`',
  },
  GRAPH_DIGEST_MISMATCH: {
    meaning: 'a vertex of a graph file does not digest to the digest it claims',
    hint: 'the graph was edited or damaged; regenerate it with `kiln debug graph`',
  },
  GRAPH_INVALID_DEFINITION: { meaning: 'a graph definition is malformed' },
  GRAPH_INVALID_JSON: { meaning: 'a graph file is not JSON', hint: 'pass what `kiln debug graph` prints' },
  GRAPH_INVALID_OP: { meaning: 'a graph op is malformed' },
  GRAPH_INVALID_VALUE: { meaning: 'a graph op holds a value that cannot be encoded' },
  GRAPH_PATH_ESCAPE: {
    meaning: 'a path in a graph file climbs out of the root it is resolved in',
    hint: 'paths in ops are resolved inside their filesystem; remove the `..` that leaves it',
  },
  GRAPH_RESULT_NOT_FOUND: {
    meaning: 'the graph has no result for the target or platform asked for',
    hint: 'name one of its results with --target, or build the graph for this platform',
  },
  GRAPH_SCHEMA_VIOLATION: {
    meaning: 'a graph file does not match the graph schema',
    hint: 'the message names the member; see docs/graph.md',
  },
  GRAPH_TOO_LARGE: { meaning: 'a graph file exceeds a size, count or fan-out limit' },
  HOLD_SCOPE_INVALID: { meaning: 'a hold file scope is not valid (internal)' },
  IMAGE_AMBIGUOUS: { meaning: 'an image ID prefix matches several images' },
  IMAGE_CONTENT_GONE: {
    meaning:
      'base image … was removed from the local store while this build used it, and pulling it again failed: …',
  },
  IMAGE_INCOMPLETE: { meaning: 'index … has none of its manifests stored' },
  IMAGE_NOT_FOUND: { meaning: 'no local image has that name or ID' },
  IMPORT_NOT_TAR: {
    meaning: 'the file to import is not a tar archive',
    hint: 'import a root filesystem tarball (tar, tar.gz or tar.zst); to load a saved image use `kiln image load`',
  },
  INDEX_TOO_DEEP: { meaning: 'an index nests indexes more than 4 levels deep' },
  INPUT_IS_TERMINAL: {
    meaning: 'no archive given and stdin is a terminal',
    hint: 'pass -i FILE or pipe an archive in',
  },
  INVALID_ARGUMENT: { meaning: 'command-line arguments conflict or are missing' },
  INVALID_BUILD_ARG: { meaning: 'a --build-arg is not NAME=VALUE', hint: 'write --build-arg NAME=VALUE' },
  INVALID_BUILD_CONTEXT: {
    meaning: 'invalid --build-context "…"',
    hint: 'write --build-context NAME=DIR or NAME=docker-image://REF',
  },
  INVALID_BUILD_INPUT: { meaning: 'the context and the Dockerfile cannot both come from stdin' },
  INVALID_CHANGE: { meaning: 'a --change instruction is not valid' },
  INVALID_CACHE_SPEC: {
    meaning: 'a --cache-to or --cache-from value is not valid',
    hint: 'use type=registry,ref=REPO[,mode=max], type=local,dest=DIR (src=DIR to import) or type=inline',
  },
  INVALID_CONFIG: { meaning: 'image config … is not valid JSON' },
  INVALID_DIGEST: {
    meaning: 'a string is not a valid digest',
    hint: 'a digest is "sha256:" followed by 64 lowercase hex digits',
  },
  INVALID_DOCKER_CONFIG: { meaning: '~/.docker/config.json could not be read or parsed' },
  INVALID_FILTER: { meaning: 'a --filter is not valid' },
  INVALID_FLAG: { meaning: 'a command-line flag value is not valid' },
  INVALID_FORMAT: { meaning: 'an archive or --format name is not known' },
  INVALID_IMAGE: { meaning: 'image … has … layers but … diff_ids' },
  INVALID_IMAGE_NAME: {
    meaning: 'cannot name an image "…": names carry a tag, not a digest',
    hint: 'use a name such as repo:tag',
  },
  INVALID_MANIFEST: { meaning: 'a manifest or index is not valid' },
  INVALID_MANIFEST_LIST: {
    meaning: 'a manifest list was given where an image is needed',
    hint: 'list single-platform images (pin one with @digest)',
  },
  INVALID_OUTPUT: { meaning: 'an --output option is not valid' },
  INVALID_PLATFORM: {
    meaning: 'a platform is not os/arch[/variant]',
    hint: 'write a platform as os/arch[/variant], e.g. linux/amd64 or linux/arm/v7',
  },
  INVALID_REFERENCE: { meaning: 'an image reference does not follow the docker reference grammar' },
  INVALID_REGISTRY_CONFIG: { meaning: 'the registry hosts configuration is not valid' },
  INVALID_REGISTRY_HOST: {
    meaning: '"…" is not a registry host',
    hint: 'write e.g. registry.example.com or localhost:5000',
  },
  INVALID_ROOT_CONFIG: {
    meaning: "the state root's kiln.toml is not valid",
    hint: 'write e.g. [limits] with layer-expansion = 100, layer-floor = 1073741824, layer-max = 0 (bytes)',
  },
  INVALID_SIZE: {
    meaning: 'a size argument is not a size',
    hint: 'write a size such as 500MB, 10GB or 1073741824',
  },
  ISOLATION_UNAVAILABLE: {
    meaning: "the isolation mode asked for (or chosen) cannot work with this process's privileges",
    hint: 'The message names the missing privilege and the mode that would work (README: Isolation modes).',
  },
  LAYER_ABORTED: { meaning: 'the layer stream was closed before it was read to the end' },
  LAYER_DUPLICATE_PATH: { meaning: 'layer entry "…" appears twice' },
  LAYER_ENTRY_INVALID: { meaning: 'layer entry "…" has size … but no content source' },
  LAYER_INVALID_LINK: {
    meaning: 'hardlink "…" points to "…", which is not a file in the layer',
    hint: 'a hardlink may only name a non-directory already extracted under the target',
  },
  LAYER_MKNOD_FAILED: { meaning: 'cannot create … node …: …', hint: 'device nodes need root (CAP_MKNOD)' },
  LAYER_NOT_A_DIRECTORY: {
    meaning: '"…" is not a directory but the layer puts entries under it',
    hint: 'the layer does not fit the filesystem it is applied to',
  },
  LAYER_OVERLAY_UNSUPPORTED: {
    meaning: 'an overlay upper directory uses metacopy or redirect_dir',
    hint: "mount the overlay with metacopy=off,redirect_dir=off (as kiln's snapshotter does)",
  },
  LAYER_SOURCE_CHANGED: {
    meaning: "a snapshot's file changed while its layer was written",
    hint: 'nothing may write to a snapshot while its layer is being created',
  },
  LAYER_SOURCE_MISSING: { meaning: 'a file went missing while its layer was written' },
  LAYER_SYMLINK_LOOP: { meaning: 'too many symlinks resolving "…" in the layer' },
  LAYER_TOO_LARGE: { meaning: 'a base layer unpacks to more than the [limits] allow' },
  LAYER_UNPACK_FAILED: {
    meaning: 'a base layer could not be unpacked',
    hint: 'the layer may be damaged; remove the image and pull it again',
  },
  LAYER_UNSAFE_PATH: {
    meaning: 'a layer entry names a path that is not safe to apply',
    hint: 'the layer is malformed or hostile; nothing outside the target directory was touched',
  },
  LAYOUT_AMBIGUOUS: { meaning: 'an OCI layout holds several images and none was chosen' },
  LEASE_NOT_FOUND: { meaning: 'a content-store lease does not exist (expired and collected)' },
  LEASE_WITHOUT_DB: { meaning: 'a lease needs the metadata database' },
  LOAD_TAG_AMBIGUOUS: { meaning: 'the archive holds … images; --tag names only one' },
  MANIFEST_LIST_EXISTS: {
    meaning: 'a manifest list … already exists locally',
    hint: 'use --amend to change it, or kiln manifest rm first',
  },
  MANIFEST_LIST_NOT_FOUND: { meaning: 'no local manifest list has that name' },
  MANIFEST_NOT_IN_LIST: {
    meaning: 'the manifest is not in the manifest list',
    hint: 'add it with kiln manifest create --amend',
  },
  MANIFEST_TOO_LARGE: {
    meaning: 'a manifest or index lists more entries than kiln accepts',
    hint: 'the image is malformed or hostile; use another image',
  },
  MOUNT_FAILED: { meaning: 'a mount could not be made' },
  MOUNT_OPTIONS_TOO_LONG: {
    meaning: 'overlay mount options are … bytes even with relative lowerdirs',
    hint: 'The parent chain is too deep for one overlay mount; squash some layers.',
  },
  MOUNT_SOURCE_MISSING: {
    meaning: 'bind mount source … does not exist',
    hint: 'the source is looked up inside the stage or context it comes from; a symlink cannot lead out of it',
  },
  MOUNT_SOURCE_UNSUPPORTED: {
    meaning: 'bind mount source … is not a file or directory',
    hint: 'mount a directory or a regular file',
  },
  MOUNT_TYPE_UNKNOWN: {
    meaning: 'a RUN --mount type is not bind, cache, tmpfs, secret or ssh',
    hint: 'Use bind, cache, tmpfs, secret or ssh.',
  },
  NAMESPACE_NEEDED: {
    meaning:
      'rootless kiln tried a build outside its user namespace first (a fully cached build needs none) and this one needs it: a step must run, a snapshot be made or read, or a base image be pulled',
    hint: 'Never seen from `kiln build`, which then runs the build inside the namespace; a library caller that passed outsideNamespace does the same.',
  },
  NOT_AN_IMAGE_ARCHIVE: {
    meaning: 'the file is neither a docker archive (manifest.json) nor an OCI layout (index.json)',
    hint: 'load archives written by `docker save`, `kiln image save`, skopeo or `buildx --output type=oci|docker`; for a root filesystem tarball use `kiln image import`',
  },
  NOT_AN_INDEX: { meaning: 'an image manifest was found where an index is needed' },
  NOT_A_MANIFEST: { meaning: 'an index was found where an image manifest is needed' },
  NOT_OCI_LAYOUT: {
    meaning: 'a directory is not an OCI image layout',
    hint: 'point at a directory written by kiln, skopeo (oci:DIR) or buildx (type=oci,tar=false)',
  },
  OUTPUT_CLOSED: {
    meaning: 'the reader of … exited before … was written in full',
    hint: 'check the command kiln was piped into; what it received is incomplete',
  },
  OUTPUT_DEST_INVALID: { meaning: 'cannot write … to …: it is …' },
  OUTPUT_IS_TERMINAL: {
    meaning: 'refusing to write an archive to a terminal',
    hint: 'pass -o FILE or redirect stdout',
  },
  OUTPUT_WRITE_FAILED: {
    meaning: 'writing an output failed',
    hint: 'check the destination: its permissions, free space, and that it accepts writes',
  },
  PATH_HAS_SYMLINK: {
    meaning: 'a directory kiln made was replaced by a symlink',
    hint: 'something replaced a directory kiln made with a symlink; kiln left it alone',
  },
  PATH_NOT_DIRECTORY: { meaning: 'a path component inside a root is not a directory' },
  PATH_NOT_FOUND: {
    meaning: 'a path does not exist inside its root',
    hint: 'the path is resolved inside its own root; symlinks pointing outside it lead nowhere',
  },
  PATH_SYMLINK_LOOP: {
    meaning: 'too many levels of symbolic links resolving …',
    hint: 'the image or context holds a symlink loop',
  },
  PATTERN_MATCH_INFO: { meaning: 'pattern-matcher state is inconsistent (internal)' },
  PATTERN_SYNTAX: {
    meaning: 'syntax error in pattern "…"',
    hint: 'check the [...] character classes and \\\\ escapes in the pattern (Go filepath.Match syntax)',
  },
  PLATFORM_NOT_FOUND: { meaning: 'the image has no manifest for the platform' },
  PRIVILEGE_MISSING: {
    meaning: 'the kernel refused an operation for lack of a privilege (EPERM: chown, mknod, mount)',
    hint: 'Build with --isolation rootless (a non-root user with subordinate ids) or as root (oci).',
  },
  PUSH_DESTINATION: { meaning: 'kiln push was given something other than a registry reference' },
  REGISTRY_AUTH_FAILED: { meaning: 'the registry refused the credentials or the token server failed' },
  REGISTRY_DENIED: { meaning: 'the registry refused access to the repository (HTTP 403)' },
  REGISTRY_ERROR: {
    meaning: 'the registry answered with an error or something unusable',
    hint: 'the registry (or something in front of it) is misbehaving',
  },
  REGISTRY_INVALID_JSON: {
    meaning: 'the registry served a document that is not valid JSON',
    hint: 'the registry served corrupted or unexpected content',
  },
  REGISTRY_NOT_FOUND: { meaning: 'the registry does not have the repository, tag or blob' },
  REGISTRY_STALLED: { meaning: 'the registry moved no data for longer than the idle timeout' },
  REGISTRY_TLS: { meaning: 'the TLS connection to the registry failed' },
  REGISTRY_UNAUTHORIZED: {
    meaning: 'the registry or its token server refused the credentials (HTTP 401 or 403)',
  },
  REGISTRY_UNREACHABLE: {
    meaning: 'the registry could not be reached (refused, reset, timed out)',
    hint: 'check the registry address, that it is running, and your network',
  },
  REMOTE_CONTEXT_FAILED: {
    meaning:
      'a build context or import named by URL could not be downloaded (HTTP error, unreachable, stalled)',
  },
  REMOTE_CONTEXT_TOO_LARGE: { meaning: 'a build context or import named by URL is larger than the limit' },
  SECRET_MOUNTS_TOO_LARGE: {
    meaning: 'the secrets of this RUN exceed …B',
    hint: 'mount fewer secrets in one RUN, or mount each one once',
  },
  SECRET_NOT_FOUND: { meaning: 'secret "…" is required by this RUN but was not provided' },
  SECRET_SOURCE_INVALID: { meaning: 'a --secret source is not a regular file' },
  SECRET_TMPFS_FAILED: {
    meaning: 'cannot mount a tmpfs for secrets',
    hint: 'Secret mounts need root (to mount a tmpfs) like RUN itself.',
  },
  SECRET_TOO_LARGE: {
    meaning: 'a secret is larger than 500 KiB',
    hint: 'secrets are for keys and tokens; pass a large file with a bind mount or COPY instead',
  },
  SIZE_MISMATCH: { meaning: 'content does not have the size it was expected to have' },
  SNAPSHOTTER_MISMATCH: {
    meaning: "a snapshotter root holds another driver's snapshots",
    hint: 'Use a separate root directory per snapshotter driver.',
  },
  SNAPSHOTTER_UNKNOWN: {
    meaning: 'the snapshotter driver is not overlay, native or auto',
    hint: 'Use overlay, native or auto.',
  },
  SNAPSHOTTER_UNSUPPORTED: {
    meaning: 'overlayfs does not work under …',
    hint: 'It needs root and a filesystem overlay supports as upper (ext4, xfs); use the native snapshotter otherwise.',
  },
  SNAPSHOT_COPY_FAILED: {
    meaning: 'the native snapshotter could not copy a snapshot',
    hint: 'Check free space under the snapshotter root.',
  },
  SNAPSHOT_CORRUPT: { meaning: "a snapshot's metadata is inconsistent" },
  SNAPSHOT_DETACH_FAILED: {
    meaning: "cannot move the RUN's changes out of …",
    hint: 'the step failed and its half-moved snapshot was removed; run the build again',
  },
  SNAPSHOT_EXISTS: { meaning: 'snapshot "…" already exists' },
  SNAPSHOT_INVALID_KEY: { meaning: 'snapshot key must not be empty' },
  SNAPSHOT_IN_USE: { meaning: 'a snapshot is used by a running process' },
  SNAPSHOT_NOT_ACTIVE: { meaning: 'snapshot "…" is …; only active snapshots can be committed' },
  SNAPSHOT_NOT_FOUND: {
    meaning: 'snapshot "…" does not exist',
    hint: 'It was never created, or it was removed or committed under another name.',
  },
  SNAPSHOT_NOT_MOUNTABLE: {
    meaning: 'snapshot "…" is committed and cannot be mounted',
    hint: 'Mount a view of it instead: view(newKey, parent).',
  },
  SNAPSHOT_PARENT_NOT_COMMITTED: {
    meaning: 'parent "…" of "…" is …, not committed',
    hint: 'Commit the parent snapshot before preparing children on it.',
  },
  SOURCE_CHANGED: {
    meaning: 'a source file or directory changed while kiln read it',
    hint: 'something replaced a file or directory of the source during the build; run the build again',
  },
  SSH_AGENT_MISSING: {
    meaning: 'the ssh agent socket for a RUN --mount=type=ssh is missing',
    hint: 'Start ssh-agent and pass --ssh default=$SSH_AUTH_SOCK.',
  },
  SSH_NOT_FOUND: { meaning: 'ssh agent "…" is required by this RUN but was not forwarded' },
  STORE_DB_OPEN: {
    meaning: 'cannot open the metadata database …: …',
    hint: 'check that the state root is writable (see --root / KILN_ROOT)',
  },
  STORE_ROOT: {
    meaning: 'cannot create the state root …: …',
    hint: 'choose a writable directory with --root or KILN_ROOT',
  },
  STORE_ROOT_INVALID: {
    meaning: "the directory cannot be kiln's state root",
    hint: 'choose a writable directory on a real filesystem with --root or KILN_ROOT',
  },
  STORE_UNSOUND: {
    meaning: 'kiln fsck found problems in the local store',
    hint: 'delete the affected images with `kiln rmi` and pull, load or build them again; remove stray files by hand',
  },
  TAR_CONTENT_INVALID: { meaning: 'entry "…" of type … cannot have content' },
  TAR_CONTENT_MISSING: { meaning: 'regular file "…" has size … but no content' },
  TAR_ENTRY_CONSUMED: { meaning: 'content of "…" was already read' },
  TAR_INVALID: { meaning: 'a tar header or PAX record is malformed' },
  TAR_SIZE_MISMATCH: {
    meaning: '"…": header says … bytes but content has …',
    hint: 'the file changed while it was being archived',
  },
  TAR_TRUNCATED: {
    meaning: 'tar archive ends unexpectedly at offset …',
    hint: 'the archive or layer blob is incomplete; download or rebuild it',
  },
  TAR_UNSUPPORTED: {
    meaning: 'unsupported tar entry type \'…\' for "…"',
    hint: 'kiln reads ustar, PAX and GNU long names; sparse files and volume headers are not supported',
  },
  TAR_WRITER_BUSY: { meaning: 'TarWriter.add called before the previous add resolved' },
  TAR_WRITER_CLOSED: { meaning: 'tar writer was destroyed while entries were being added' },
  TEST_REGISTRY_FAILED: {
    meaning: 'docker-registry did not start: …',
    hint: 'check the generated config and that /usr/bin/docker-registry runs',
  },
  TEST_REGISTRY_SHARED: {
    meaning: 'the shared registry serves every test file',
    hint: 'start a registry of your own (startRegistry) to stop and continue it',
  },
  TEST_TOOL_MISSING: { meaning: 'a tool a test needs is not installed (tests only)' },
  UNMOUNT_FAILED: { meaning: 'a mount could not be removed' },
  UNSUPPORTED_OP: { meaning: 'graph op "…" is not supported by this worker yet' },
  UNSUPPORTED_SCHEMA1: {
    meaning: 'image uses the deprecated Docker schema 1 manifest format',
    hint: 'push the image again with a current client (docker, skopeo, kiln) to get a schema 2 / OCI manifest',
  },
  XATTR_READ_FAILED: { meaning: 'reading extended attributes under … failed: …' },
  XATTR_TOOL_MISSING: {
    meaning: 'cannot run … to handle extended attributes',
    hint: 'install the Debian package "attr" (apt-get install attr); scripts/setup.sh does this',
  },
  XATTR_WRITE_FAILED: {
    meaning: 'setting extended attributes failed: …',
    hint: 'trusted.* and security.* attributes need root; the filesystem must support xattrs',
  },
  YAML_INVALID: {
    meaning: 'a kiln YAML build file is not valid YAML or does not match its schema',
    hint: 'see docs/yaml.md and docs/kiln-yaml.schema.json',
  },
  YAML_INVALID_IMAGE: { meaning: 'an image of a kiln YAML build file cannot be built as written' },
  DOCKERFILE_INVALID_CHECK: {
    meaning: 'a `# check=` directive (or BUILDKIT_DOCKERFILE_CHECK) that cannot be parsed',
    hint: 'write it as `# check=skip=Rule1,Rule2;error=true` (or skip=all)',
  },
  ENGINE_LOAD_FAILED: {
    meaning: 'the Docker Engine refused the image `--load` sent it',
  },
  ENGINE_LOAD_MULTIPLATFORM: {
    meaning: '`--load` into a Docker Engine of an image for several platforms',
    hint: 'build for one platform with --platform, or push the multi-platform image with --push',
  },
  FRONTEND_UNSUPPORTED: {
    meaning: "`# syntax=` names a frontend image other than BuildKit's own Dockerfile frontend",
    hint: 'remove the directive or use docker/dockerfile; gateway frontends are not supported yet',
  },
  HOST_GATEWAY_UNKNOWN: {
    meaning: '`--add-host NAME:host-gateway` on a host with no non-loopback IPv4 address',
    hint: 'give the address itself: --add-host NAME:IP',
  },
  LAYOUT_UNSAFE: {
    meaning: 'an OCI layout directory holds a symlink or another unexpected entry where kiln writes',
    hint: 'remove the entry from the layout directory, or write to a new directory',
  },
  LINT_VIOLATION: {
    meaning: '`# check=error=true` and the Dockerfile has lint warnings',
    hint: 'fix the warnings shown, or skip their rules with `# check=skip=…`',
  },
  SQUASH_FAILED: {
    meaning: "`--squash` found the result does not start with its base image's layers",
    hint: 'build without --squash and report the Dockerfile',
  },
  OUTPUT_UNSUPPORTED: {
    meaning: 'an output option BuildKit honours that kiln cannot give',
    hint: 'remove the option; the message says which values kiln accepts',
  },
  ULIMIT_TOO_HIGH: {
    meaning: "a `--ulimit` hard limit above kiln's own, which kiln cannot raise",
    hint: 'lower the hard limit, or run kiln with CAP_SYS_RESOURCE',
  },
  COMMIT_FORMAT_INVALID: {
    meaning: '`kiln commit --format` names a format other than oci or docker',
    hint: 'use --format oci or --format docker',
  },
  CONFIG_INVALID: {
    meaning: 'a `kiln config` option value that cannot be parsed',
  },
  CONTAINER_AMBIGUOUS: {
    meaning: 'a working-container ID prefix that matches several containers',
    hint: "give more of the ID, or the container's name",
  },
  CACHE_RECORD_INVALID: {
    meaning: 'an imported build cache record does not follow the kiln cache record schema',
    hint: 'the cache was written by another tool or damaged; export it again with kiln build --cache-to',
  },
  CACHE_EXPORT_FAILED: {
    meaning: 'the build cache could not be exported to where --cache-to names',
    hint: 'check the destination (registry access, directory permissions), or add ignore-error=true to --cache-to to let the build pass anyway',
  },
  CONTAINER_CORRUPT: {
    meaning: "a working container's record or files are damaged",
    hint: 'remove it with `kiln rm` and make it again with `kiln from`',
  },
  CONTAINER_LOCKED: {
    meaning: 'another kiln command is using the working container',
    hint: 'wait for it to finish, or use another container',
  },
  CONTAINER_MISSING: {
    meaning: 'a command that needs a working container was given none',
    hint: 'name the container (see `kiln containers`)',
  },
  CONTAINER_NAME_INVALID: {
    meaning: 'a working-container name with characters a name may not have',
    hint: "use letters, digits, '.', '_' and '-'",
  },
  CONTAINER_NAME_TAKEN: {
    meaning: '`kiln from --name` names a working container that exists',
    hint: 'choose another name, or remove the container with `kiln rm`',
  },
  CONTAINER_NOT_FOUND: {
    meaning: 'no working container has that name or ID',
    hint: 'list them with `kiln containers`',
  },
  COPY_NO_SOURCE: {
    meaning: '`kiln copy`/`kiln add` was given no source',
    hint: 'name at least one source before the destination',
  },
  INSPECT_TYPE_INVALID: {
    meaning: '`kiln inspect --type` is neither container nor image',
    hint: 'use --type container or --type image',
  },
  MOUNT_INVALID: {
    meaning: 'a `kiln run --mount` value that cannot be parsed',
    hint: 'write it as RUN --mount takes it: type=bind,source=…,target=…',
  },
  NETWORK_INVALID: {
    meaning: 'a network mode other than default, none or host',
    hint: 'use --network default, none or host',
  },
  RUN_NO_COMMAND: {
    meaning: '`kiln run` was given no command',
    hint: 'put the command after --: kiln run CTR -- CMD',
  },
  RUN_TTY_UNSUPPORTED: {
    meaning: '`kiln run --tty`: kiln gives commands pipes, not a terminal',
    hint: 'run without --tty',
  },
  VOLUME_INVALID: {
    meaning: 'a `--volume` value that cannot be parsed',
    hint: 'write it as HOST-DIR:CONTAINER-DIR[:ro]',
  },
  WORKING_MOUNT_UNEXPECTED: {
    meaning: "a working container's rootfs is mounted where kiln did not mount it",
    hint: 'unmount it with `kiln umount`, then retry',
  },
  WORKING_NEEDS_OVERLAY: {
    meaning: 'working containers need the overlay snapshotter',
    hint: 'run kiln as root on a filesystem that supports overlayfs',
  },
  SERVE_GROUP: {
    meaning: 'the `kiln` group for the API socket could not be applied',
  },
  SERVE_INSECURE: {
    meaning: '`kiln serve` on TCP without TLS client verification',
    hint: 'add --tlsverify with --tlscacert, --tlscert and --tlskey, or listen on loopback with --insecure',
  },
  SERVE_NO_SOCKETS: {
    meaning: '`kiln serve --host fd://` with no sockets passed by systemd',
    hint: 'start kiln through its systemd socket unit, or listen on unix:// or tcp://',
  },
  SERVE_SOCKET_PATH: {
    meaning: 'the API socket path holds something other than a socket',
    hint: 'remove that file or choose another --host unix:// path',
  },
  SERVE_TLS: {
    meaning: 'the TLS files for `kiln serve` cannot be read or used',
    hint: 'check --tlscacert, --tlscert and --tlskey',
  },
  API_VERSION: {
    meaning: 'the client asked for an Engine API version kiln serve does not speak',
    hint: 'use a client (or DOCKER_API_VERSION) within the supported range',
  },
  BUILDKIT_SESSION: {
    meaning: 'a BuildKit-session build (`version=2`) against kiln serve',
    hint: 'set DOCKER_BUILDKIT=0 for the client',
  },
  INVALID_QUERY: {
    meaning: 'an Engine API request parameter that cannot be parsed',
  },
  INVALID_REGISTRY_AUTH: {
    meaning: 'an X-Registry-Auth or X-Registry-Config header that is not base64 JSON',
  },
  NOT_SERVED: {
    meaning: 'an Engine API endpoint kiln serve does not serve (containers, volumes, swarm…)',
    hint: 'use dockerd or podman for it',
  },
  REQUEST_TOO_LARGE: {
    meaning: "a request body over the server's limit (--max-body)",
    hint: 'raise --max-body, or send a smaller context',
  },
  PATH_TOO_LONG: {
    meaning: 'a path in a context or rootfs is longer than PATH_MAX',
    hint: 'shorten the directory nesting or names in the source',
  },
} as const satisfies Record<string, ErrorInfo>;

/** A code KilnError accepts: one of the catalogue's keys. */
export type ErrorCode = keyof typeof ERROR_CODES;
