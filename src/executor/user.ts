/**
 * Resolving a RUN user (`name`, `uid`, `name:group`, `uid:gid`) through the rootfs's own
 * /etc/passwd and /etc/group, with supplementary groups, as runc/moby's user lookup does:
 * a numeric uid need not exist in /etc/passwd (gid 0 then), a name must.
 */
import { KilnError } from '../errors/errors.ts';
import { readGroup, readPasswd } from '../userdb/userdb.ts';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** Home directory from /etc/passwd ('/' when the user has no entry). */
  home: string;
}

export async function resolveUser(rootfs: string, spec: string | undefined): Promise<ResolvedUser> {
  // No user means uid 0 even in a rootfs without /etc/passwd (runc's default).
  const [userPart, groupPart] = (spec || '0').split(':', 2) as [string, string | undefined];
  const passwd = readPasswd(rootfs);
  const groups = readGroup(rootfs);

  const isNum = (s: string) => /^\d+$/.test(s);
  let entry = passwd.find((p) => (isNum(userPart) ? p.uid === Number(userPart) : p.name === userPart));
  if (!entry && !isNum(userPart)) {
    throw new KilnError('EXEC_USER_UNKNOWN', `user "${userPart}" is not in the image's /etc/passwd`, {
      hint: 'Create the user in an earlier step (e.g. RUN adduser), or use a numeric uid.',
    });
  }
  if (!entry) entry = { name: '', uid: Number(userPart), gid: 0, home: '/' };

  let gid = entry.gid;
  if (groupPart !== undefined && groupPart !== '') {
    const g = groups.find((x) => (isNum(groupPart) ? x.gid === Number(groupPart) : x.name === groupPart));
    if (!g && !isNum(groupPart)) {
      throw new KilnError('EXEC_GROUP_UNKNOWN', `group "${groupPart}" is not in the image's /etc/group`, {
        hint: 'Create the group in an earlier step, or use a numeric gid.',
      });
    }
    gid = g ? g.gid : Number(groupPart);
  }
  const additional = entry.name ? groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid) : [];
  const additionalGids = [...new Set(additional)].filter((g) => g !== gid);
  return { uid: entry.uid, gid, additionalGids, home: entry.home || '/' };
}
