// Keeps the bench's extracted trees until the end of the bench (the work directory is removed then) instead of deleting each one right after it was measured.
//
// Why: this machine's ext4 has no journal, and on such a file system every inode allocation skips
// free inodes that were freed in the last 60 s (360 s while their inode-table block is dirty),
// reading each one's dtime (fs/ext4/ialloc.c, find_inode_bit → recently_deleted). Deleting a
// 30,000-file restore and then restoring again made every create scan those inodes: measured here,
// the same cassette restore took 29.4 s (17.6 s sys) on a quiet disk and 46.7 s (30.4 s sys) right
// after `rm -rf` of the previous output, and perf put 41% of the restoring thread in
// find_inode_bit. Whichever tool restored after a deletion paid for it. Moving trees aside is a
// rename (no inode is freed); they are deleted once, when the bench ends. When the disk cannot
// hold them, trees are deleted at once and the report says that restores may include the scan.

import fs from 'node:fs/promises';
import path from 'node:path';

export class Trash {
  private count = 0;
  private readonly dir: string;

  private constructor(
    work: string,
    readonly keeping: boolean,
  ) {
    this.dir = path.join(work, 'trash');
  }

  /** Keep trees when the work directory's file system has `bytesNeeded` free (plus 2 GiB to spare). */
  static async create(work: string, bytesNeeded: number): Promise<Trash> {
    const stats = await fs.statfs(work);
    const free = stats.bavail * stats.bsize;
    const trash = new Trash(work, free > bytesNeeded + 2 * 1024 ** 3);
    await fs.mkdir(trash.dir, { recursive: true });
    return trash;
  }

  /** Takes `dir` out of the way: moved into the trash, or deleted when there is no room to keep it. */
  async discard(dir: string): Promise<void> {
    if (!this.keeping) {
      await fs.rm(dir, { recursive: true, force: true });
      return;
    }
    try {
      await fs.rename(dir, path.join(this.dir, String(this.count++)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}
