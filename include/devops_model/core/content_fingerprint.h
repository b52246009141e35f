// A fingerprint of what a path holds, for telling whether a model at the same path was replaced (eval
// resume must not mix scores of two models). A file, or every regular file under a directory (relative
// names in sorted order): name, size, and content -- hashed whole when small, else sampled (the first and
// last 1 MiB, where headers and tensor indexes live, and 64 KiB at 62 evenly spaced offsets), so that a
// 15 GB checkpoint costs a few MiB of reads. Any weight edit that changes file sizes, headers or a sampled
// block changes it; an edit confined to unsampled bytes does not (documented limit).
#pragma once
#include <string>

namespace dm {

// 16 hex digits. Error(kIo) naming the path when it cannot be read.
std::string content_fingerprint(const std::string& path);

}  // namespace dm
