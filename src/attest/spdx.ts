/**
 * An SPDX 2.3 JSON document listing a root filesystem's packages (`packages.ts`), as BuildKit's
 * SBOM attestation carries one (predicate type https://spdx.dev/Document): the document
 * describes each package, each with its package-url.
 */
import type { Package } from './packages.ts';

export const SPDX_PREDICATE = 'https://spdx.dev/Document';

export interface SpdxInputs {
  /** What the document is about (the image's name, or its manifest digest). */
  name: string;
  /** Unique per subject: the document namespace ends with it (the manifest digest's hex). */
  uniqueId: string;
  /** ISO time the document was made (SOURCE_DATE_EPOCH when set). */
  created: string;
  /** The tool that made it, `kiln-<version>`. */
  tool: string;
  packages: readonly Package[];
}

/** An SPDX identifier may hold letters, digits, `.` and `-` only. */
function spdxId(i: number, p: Package): string {
  return `SPDXRef-Package-${p.type}-${p.name.replace(/[^A-Za-z0-9.-]+/g, '-')}-${i}`;
}

export function spdxDocument(inp: SpdxInputs): Record<string, unknown> {
  const ids = inp.packages.map((p, i) => spdxId(i, p));
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: inp.name,
    documentNamespace: `https://spdx.org/spdxdocs/kiln/${encodeURIComponent(inp.name)}-${inp.uniqueId}`,
    creationInfo: { created: inp.created, creators: [`Tool: ${inp.tool}`] },
    packages: inp.packages.map((p, i) => ({
      SPDXID: ids[i],
      name: p.name,
      versionInfo: p.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      sourceInfo: `acquired package info from ${p.source}`,
      externalRefs: [
        { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl },
      ],
    })),
    relationships: ids.map((id) => ({
      spdxElementId: 'SPDXRef-DOCUMENT',
      relationshipType: 'DESCRIBES',
      relatedSpdxElement: id,
    })),
  };
}
