// RootDir + TreeWriter + apply_layer on layers built with tar_builder, in a
// scratch directory per test: what replaces what, whiteouts and opaque
// directories (only lower layers' entries go), symlinks that are replaced
// and never written through, hardlinks, mtimes and setuid bits.
//
// CI runs these as root, so every path a bug could reach stays inside the
// scratch directory: the "outside" sentinels are its siblings of the root.
#include <doctest/doctest.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "fs/root.hpp"
#include "fs/writer.hpp"
#include "layer/apply.hpp"
#include "util/byte_source.hpp"
#include "support/scoped_temp_dir.hpp"
#include "support/tar_builder.hpp"
#include "util/error.hpp"

namespace undocker::fs {

namespace {

using test::Buffer;
using test::Header;
using test::TarBuilder;

// main() clears the umask so modes come from the archive exactly; the
// writer creates files with their final permission bits relying on that.
class UmaskZero {
 public:
  UmaskZero() : saved_(::umask(0)) {}
  ~UmaskZero() { ::umask(saved_); }
  UmaskZero(const UmaskZero&) = delete;
  UmaskZero& operator=(const UmaskZero&) = delete;

 private:
  mode_t saved_;
};

// One extraction: a scratch directory holding the output root ("root")
// and room for sentinels beside it.
class Extraction {
 public:
  explicit Extraction(WriterOptions options = {})
      : root_path_(temp_.path() + "/root"),
        root_(std::make_unique<RootDir>(root_path_)),
        writer_(std::make_unique<TreeWriter>(*root_, options)) {}

  /// Applies one layer, named layerN.tar in messages.
  layer::ApplyStats apply(const Buffer& layer) {
    MemorySource source(layer);
    const std::size_t index = layers_++;
    return layer::apply_layer(source, index, "layer" + std::to_string(index) + ".tar", *writer_, layer::ApplyOptions{});
  }

  /// Applies the deferred directory metadata.
  void finish() { writer_->finish(); }

  std::string in_root(const std::string& relative) const { return root_path_ + "/" + relative; }
  std::string beside_root(const std::string& relative) const { return temp_.path() + "/" + relative; }
  const std::string& scratch() const { return temp_.path(); }

 private:
  UmaskZero umask_;
  test::ScopedTempDir temp_;
  std::string root_path_;
  std::unique_ptr<RootDir> root_;
  std::unique_ptr<TreeWriter> writer_;
  int layers_ = 0;
};

std::optional<struct stat> lstat_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

bool exists(const std::string& path) { return lstat_of(path).has_value(); }
bool is_file(const std::string& path) {
  const std::optional<struct stat> st = lstat_of(path);
  return st && S_ISREG(st->st_mode);
}

bool is_dir(const std::string& path) {
  const std::optional<struct stat> st = lstat_of(path);
  return st && S_ISDIR(st->st_mode);
}

bool is_symlink(const std::string& path) {
  const std::optional<struct stat> st = lstat_of(path);
  return st && S_ISLNK(st->st_mode);
}

unsigned mode_of(const std::string& path) {
  const std::optional<struct stat> st = lstat_of(path);
  REQUIRE(st);
  return st->st_mode & 07777;
}

std::string contents_of(const std::string& path) {
  REQUIRE_MESSAGE(is_file(path), path);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string link_of(const std::string& path) {
  std::vector<char> buffer(4096);
  const ssize_t length = ::readlink(path.c_str(), buffer.data(), buffer.size());
  REQUIRE_MESSAGE(length >= 0, path);
  return std::string(buffer.data(), static_cast<std::size_t>(length));
}

void write_host_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

// Lists dir_fd's directory through a duplicate, which shares dir_fd's read
// position: afterwards dir_fd itself is at the end of the directory.
void read_to_end(int dir_fd) {
  DIR* reader = fdopendir(fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  REQUIRE(reader != nullptr);
  while (readdir(reader) != nullptr) {
  }
  closedir(reader);
}

}  // namespace

TEST_SUITE_BEGIN("fs::writer");

TEST_CASE("a file replaces a directory of a lower layer") {
  Extraction x;
  x.apply(TarBuilder().directory("a/").file("a/x", "lower").end().bytes());
  x.apply(TarBuilder().file("a", "upper file").end().bytes());
  x.finish();
  CHECK(contents_of(x.in_root("a")) == "upper file");
}

TEST_CASE("a directory replaces a file of a lower layer") {
  Extraction x;
  x.apply(TarBuilder().file("a", "lower file").end().bytes());
  x.apply(TarBuilder().directory("a/", 0751).file("a/y", "y").end().bytes());
  x.finish();
  CHECK(is_dir(x.in_root("a")));
  CHECK(mode_of(x.in_root("a")) == 0751);
  CHECK(contents_of(x.in_root("a/y")) == "y");
}

TEST_CASE("a directory over a directory merges; the upper mode and mtime win") {
  Extraction x;
  x.apply(TarBuilder().directory("d/", 0700, 100).file("d/lower", "l").end().bytes());
  x.apply(TarBuilder().directory("d/", 0750, 200).file("d/upper", "u").end().bytes());
  x.finish();
  CHECK(contents_of(x.in_root("d/lower")) == "l");
  CHECK(contents_of(x.in_root("d/upper")) == "u");
  CHECK(mode_of(x.in_root("d")) == 0750);
  CHECK(lstat_of(x.in_root("d"))->st_mtim.tv_sec == 200);
}

TEST_CASE("a file replaces a file, and a later entry of one layer replaces an earlier one") {
  Extraction x;
  x.apply(TarBuilder().file("f", "first, and longer").file("f", "second").end().bytes());
  CHECK(contents_of(x.in_root("f")) == "second");
  x.apply(TarBuilder().file("f", "third", 0600).end().bytes());
  x.finish();
  CHECK(contents_of(x.in_root("f")) == "third");
  CHECK(mode_of(x.in_root("f")) == 0600);
}

TEST_CASE("a symlink replaces a file, and is replaced, never written through") {
  Extraction x;
  x.apply(TarBuilder().file("target", "original").file("a", "old").end().bytes());
  x.apply(TarBuilder().symlink("a", "target").end().bytes());
  CHECK(is_symlink(x.in_root("a")));
  CHECK(link_of(x.in_root("a")) == "target");
  CHECK(contents_of(x.in_root("target")) == "original");

  x.apply(TarBuilder().file("a", "new").end().bytes());
  x.finish();
  CHECK(contents_of(x.in_root("a")) == "new");
  CHECK(contents_of(x.in_root("target")) == "original");
}

TEST_CASE("a symlink to a host file is replaced, never written through") {
  Extraction x;
  const std::string secret = x.beside_root("secret");
  write_host_file(secret, "host data");
  x.apply(TarBuilder().symlink("etc-passwd", secret).symlink("rel", "../secret").end().bytes());
  x.apply(TarBuilder().file("etc-passwd", "pwned").file("rel", "pwned").end().bytes());
  x.finish();
  CHECK(contents_of(secret) == "host data");
  CHECK(contents_of(x.in_root("etc-passwd")) == "pwned");
  CHECK(contents_of(x.in_root("rel")) == "pwned");
}

TEST_CASE("writes below a symlink to an absolute path land inside the root") {
  Extraction x;
  const std::string outside = x.beside_root("outside");
  REQUIRE(::mkdir(outside.c_str(), 0755) == 0);
  x.apply(TarBuilder()
              .symlink("abs", outside)         // the host path of a real directory
              .symlink("up", "../../outside")  // climbs past the root
              .file("abs/pwned", "a")
              .file("up/pwned2", "b")
              .directory("abs/newdir/")
              .end()
              .bytes());
  x.finish();
  CHECK_FALSE(exists(outside + "/pwned"));
  CHECK_FALSE(exists(outside + "/pwned2"));
  CHECK_FALSE(exists(outside + "/newdir"));
  // "/" means the root, as under chroot.
  CHECK(contents_of(x.in_root(outside.substr(1) + "/pwned")) == "a");
  CHECK(is_dir(x.in_root(outside.substr(1) + "/newdir")));
  CHECK(contents_of(x.in_root("outside/pwned2")) == "b");
  CHECK(is_symlink(x.in_root("abs")));
  CHECK(is_symlink(x.in_root("up")));
}

TEST_CASE("a whiteout removes a lower file or tree, and leaves no trace") {
  Extraction x;
  x.apply(TarBuilder().file("a/f", "f").file("a/g", "g").file("dir/sub/x", "x").end().bytes());
  const layer::ApplyStats stats =
      x.apply(TarBuilder().file("a/.wh.f", "").file(".wh.dir", "").file(".wh.nothing", "").end().bytes());
  x.finish();
  CHECK(stats.whiteouts == 3);
  CHECK_FALSE(exists(x.in_root("a/f")));
  CHECK(contents_of(x.in_root("a/g")) == "g");
  CHECK_FALSE(exists(x.in_root("dir")));
  CHECK_FALSE(exists(x.in_root("a/.wh.f")));
  CHECK_FALSE(exists(x.in_root(".wh.dir")));
  CHECK_FALSE(exists(x.in_root(".wh.nothing")));
}

TEST_CASE("a whiteout of a symlink removes the link, not its target") {
  Extraction x;
  const std::string secret = x.beside_root("secret");
  write_host_file(secret, "host data");
  x.apply(TarBuilder().symlink("link", secret).directory("d/").file("d/keep", "k").symlink("dlink", "d").end().bytes());
  x.apply(TarBuilder().file(".wh.link", "").file(".wh.dlink", "").end().bytes());
  x.finish();
  CHECK_FALSE(exists(x.in_root("link")));
  CHECK_FALSE(exists(x.in_root("dlink")));
  CHECK(contents_of(secret) == "host data");
  CHECK(contents_of(x.in_root("d/keep")) == "k");
}

TEST_CASE("an opaque directory hides lower entries and keeps its own layer's") {
  Extraction x;
  x.apply(TarBuilder()
              .directory("d/")
              .file("d/lower1", "1")
              .file("d/sub/lower2", "2")
              .file("d/sub/lower3", "3")
              .file("other/kept", "k")
              .end()
              .bytes());
  SUBCASE("marker before the entries") {
    x.apply(TarBuilder()
                .directory("d/")
                .file("d/.wh..wh..opq", "")
                .file("d/upper", "u")
                .file("d/sub/new", "n")
                .end()
                .bytes());
  }
  SUBCASE("marker after the entries") {
    x.apply(TarBuilder()
                .directory("d/")
                .file("d/upper", "u")
                .file("d/sub/new", "n")
                .file("d/.wh..wh..opq", "")
                .end()
                .bytes());
  }
  x.finish();
  CHECK(is_dir(x.in_root("d")));
  CHECK(contents_of(x.in_root("d/upper")) == "u");
  CHECK(contents_of(x.in_root("d/sub/new")) == "n");
  CHECK_FALSE(exists(x.in_root("d/lower1")));
  CHECK_FALSE(exists(x.in_root("d/sub/lower2")));
  CHECK_FALSE(exists(x.in_root("d/sub/lower3")));
  CHECK_FALSE(exists(x.in_root("d/.wh..wh..opq")));
  CHECK(contents_of(x.in_root("other/kept")) == "k");
}

TEST_CASE("a whiteout after a file of the same layer does not delete it") {
  Extraction x;
  x.apply(TarBuilder().file("f", "lower").file("d/old", "o").end().bytes());
  x.apply(TarBuilder()
              .file("f", "upper")
              .file(".wh.f", "")
              .file("d/new", "n")
              .file(".wh.d", "")  // only what lower layers put in d goes
              .file("g", "same layer")
              .file(".wh.g", "")
              .end()
              .bytes());
  x.finish();
  CHECK(contents_of(x.in_root("f")) == "upper");
  CHECK(contents_of(x.in_root("d/new")) == "n");
  CHECK_FALSE(exists(x.in_root("d/old")));
  CHECK(contents_of(x.in_root("g")) == "same layer");
}

TEST_CASE("hardlinks, within a layer and to a lower one") {
  Extraction x;
  x.apply(TarBuilder().file("a", "data").hardlink("b", "a").end().bytes());
  x.apply(TarBuilder().hardlink("dir/c", "./a").end().bytes());
  x.finish();
  const std::optional<struct stat> a = lstat_of(x.in_root("a"));
  const std::optional<struct stat> b = lstat_of(x.in_root("b"));
  const std::optional<struct stat> c = lstat_of(x.in_root("dir/c"));
  REQUIRE((a && b && c));
  CHECK(a->st_ino == b->st_ino);
  CHECK(a->st_ino == c->st_ino);
  CHECK(a->st_nlink == 3);
  CHECK(contents_of(x.in_root("dir/c")) == "data");
}

TEST_CASE("a hardlink to a symlink links the symlink, not what it points at") {
  Extraction x;
  const std::string secret = x.beside_root("secret");
  write_host_file(secret, "host data");
  x.apply(TarBuilder().symlink("s", secret).hardlink("h", "s").end().bytes());
  x.apply(TarBuilder().file("h", "overwritten").end().bytes());
  x.finish();
  CHECK(lstat_of(secret)->st_nlink == 1);
  CHECK(contents_of(secret) == "host data");
  CHECK(is_symlink(x.in_root("s")));
}

TEST_CASE("a hardlink whose target climbs out is refused") {
  Extraction x;
  CHECK_THROWS_WITH_AS(x.apply(TarBuilder().hardlink("b", "../secret").end().bytes()),
                       "layer0.tar: b: hardlink target ../secret is outside the output directory", FormatError);
  CHECK_FALSE(exists(x.in_root("b")));
}

TEST_CASE("an entry path climbing out is refused") {
  Extraction x;
  CHECK_THROWS_WITH_AS(x.apply(TarBuilder().file("../escaped", "x").end().bytes()),
                       "layer0.tar: ../escaped: path climbs out of the output directory with '..'", FormatError);
  CHECK_FALSE(exists(x.beside_root("escaped")));
}

TEST_CASE("mtimes of files, directories and symlinks") {
  Extraction x;
  x.apply(TarBuilder()
              .directory("d/", 0755, 1500000000)
              .pax({{"mtime", "1600000000.123456789"}})
              .file("d/f", "f", 0644, 1)
              .symlink("d/link", "f", 1400000000)
              .file("d/later", "created after d's entry")
              .end()
              .bytes());
  x.finish();
  const std::optional<struct stat> f = lstat_of(x.in_root("d/f"));
  const std::optional<struct stat> link = lstat_of(x.in_root("d/link"));
  const std::optional<struct stat> d = lstat_of(x.in_root("d"));
  REQUIRE((f && link && d));
  CHECK(f->st_mtim.tv_sec == 1600000000);
  CHECK(f->st_mtim.tv_nsec == 123456789);
  CHECK(link->st_mtim.tv_sec == 1400000000);
  CHECK(S_ISLNK(link->st_mode));
  CHECK(d->st_mtim.tv_sec == 1500000000);  // set last, after its children
}

TEST_CASE("an mtime before the epoch") {
  Extraction x;
  x.apply(TarBuilder().file("old", "o", 0644, test::Number::base256(-86400)).end().bytes());
  x.finish();
  CHECK(lstat_of(x.in_root("old"))->st_mtim.tv_sec == -86400);
}

TEST_CASE("setuid, setgid and sticky bits are kept") {
  Extraction x;
  x.apply(TarBuilder()
              .file("su", "#!", 04755)
              .file("sg", "#!", 02711)
              .directory("shared/", 02775)
              .directory("tmp/", 01777)
              .end()
              .bytes());
  x.finish();
  CHECK(mode_of(x.in_root("su")) == 04755);
  CHECK(mode_of(x.in_root("sg")) == 02711);
  CHECK(mode_of(x.in_root("shared")) == 02775);
  CHECK(mode_of(x.in_root("tmp")) == 01777);
}

TEST_CASE("as root: owners from the archive, and setuid survives the chown") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root to change owners");
    return;
  }
  Extraction x(WriterOptions{.set_owner = true});
  x.apply(TarBuilder()
              .add(Header{.name = "su", .mode = 04755, .uid = 1234, .gid = 5678}, "#!")
              .add(Header{.name = "dir", .typeflag = '5', .mode = 02770, .uid = 1234, .gid = 5678})
              .add(Header{.name = "link", .linkname = "su", .typeflag = '2', .mode = 0777, .uid = 4321, .gid = 8765})
              .end()
              .bytes());
  x.finish();
  const std::optional<struct stat> su = lstat_of(x.in_root("su"));
  const std::optional<struct stat> dir = lstat_of(x.in_root("dir"));
  const std::optional<struct stat> link = lstat_of(x.in_root("link"));
  REQUIRE((su && dir && link));
  CHECK(su->st_uid == 1234);
  CHECK(su->st_gid == 5678);
  CHECK((su->st_mode & 07777) == 04755);
  CHECK(dir->st_uid == 1234);
  CHECK((dir->st_mode & 07777) == 02770);
  CHECK(link->st_uid == 4321);  // the link itself, not su
  CHECK(link->st_gid == 8765);
}

// The writer skips a chown to the owner an entry is created with (root's
// entries, as root): wherever that owner is not what creating gives, the
// chown must still happen.
TEST_CASE("as root: entries get the archive's owner in a setgid output directory too") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root to change owners");
    return;
  }
  UmaskZero umask;
  test::ScopedTempDir temp;
  // A setgid parent with another group: the output directory made in it,
  // and every directory and file made below, would take that group.
  REQUIRE(::chown(temp.path().c_str(), 0, 4242) == 0);
  REQUIRE(::chmod(temp.path().c_str(), 02755) == 0);
  const std::string root_path = temp.path() + "/root";
  for (const unsigned threads : {0U, 2U}) {
    CAPTURE(threads);
    const std::string root_path_n = root_path + std::to_string(threads);
    RootDir root(root_path_n);
    TreeWriter writer(root, WriterOptions{.set_owner = true, .threads = threads});
    const Buffer layer = TarBuilder()
                             .add(Header{.name = "file", .mode = 0644, .uid = 0, .gid = 0}, "data")
                             .add(Header{.name = "dir", .typeflag = '5', .mode = 0755, .uid = 0, .gid = 0})
                             .add(Header{.name = "dir/file", .mode = 0600, .uid = 0, .gid = 0}, "more")
                             .add(Header{.name = "link", .linkname = "file", .typeflag = '2', .mode = 0777})
                             .add(Header{.name = "fifo", .typeflag = '6', .mode = 0600, .uid = 0, .gid = 0})
                             .end()
                             .bytes();
    MemorySource source(layer);
    layer::apply_layer(source, 0, "layer0.tar", writer, layer::ApplyOptions{});
    writer.finish();
    for (const char* name : {"file", "dir", "dir/file", "link", "fifo"}) {
      CAPTURE(name);
      const std::optional<struct stat> st = lstat_of(root_path_n + "/" + name);
      REQUIRE(st);
      CHECK(st->st_uid == 0);
      CHECK(st->st_gid == 0);
    }
  }
}

TEST_CASE("files finished on worker threads get their data, mode and mtime") {
  Extraction x(WriterOptions{.threads = 2});
  auto name = [](int i) { return fmt::format("f{}", i); };
  auto data = [](int i) { return std::string(static_cast<std::size_t>(i) * 100, static_cast<char>('a' + i % 26)); };
  TarBuilder layer;
  for (int i = 0; i < 50; ++i) layer.file(name(i), data(i), i % 2 ? 0755 : 04711, 1000000 + i);
  x.apply(layer.end().bytes());
  x.finish();
  for (int i = 0; i < 50; ++i) {
    CAPTURE(i);
    const std::string path = x.in_root(name(i));
    CHECK(contents_of(path) == data(i));
    CHECK(mode_of(path) == (i % 2 ? 0755u : 04711u));
    CHECK(lstat_of(path)->st_mtim.tv_sec == 1000000 + i);
  }
}

TEST_CASE("a directory entry replaces a symlink; what it pointed at is untouched") {
  Extraction x;
  const std::string outside = x.beside_root("outside");
  REQUIRE(::mkdir(outside.c_str(), 0755) == 0);
  x.apply(TarBuilder().symlink("d", outside).end().bytes());
  x.apply(TarBuilder().directory("d/", 0777).file("d/f", "f").end().bytes());
  x.finish();
  CHECK(is_dir(x.in_root("d")));
  CHECK(mode_of(x.in_root("d")) == 0777);
  CHECK(contents_of(x.in_root("d/f")) == "f");
  CHECK_FALSE(exists(outside + "/f"));
  CHECK(mode_of(outside) == 0755);
}

TEST_CASE("chmod_through_symlink_fixup: a directory later replaced by a symlink keeps the host's mode") {
  // libarchive issue 745: deferred directory metadata must not follow a
  // symlink planted at the directory's path after it was recorded.
  Extraction x;
  const std::string outside = x.beside_root("outside");
  REQUIRE(::mkdir(outside.c_str(), 0700) == 0);
  x.apply(TarBuilder().directory("d/", 0777, 12345).directory("a/sub/", 0777).end().bytes());
  x.apply(TarBuilder().symlink("d", outside).symlink("a", outside).end().bytes());
  x.finish();
  CHECK(mode_of(outside) == 0700);
  CHECK(lstat_of(outside)->st_mtim.tv_sec != 12345);
  CHECK(is_symlink(x.in_root("d")));
}

TEST_CASE("whiteout_escape: whiteouts and opaque markers below a symlink stay inside the root") {
  Extraction x;
  const std::string outside = x.beside_root("outside");
  REQUIRE(::mkdir(outside.c_str(), 0755) == 0);
  write_host_file(outside + "/victim", "host data");
  x.apply(TarBuilder().symlink("abs", outside).symlink("up", "../outside").end().bytes());
  x.apply(TarBuilder()
              .file("abs/.wh.victim", "")
              .file("up/.wh.victim", "")
              .file("abs/.wh..wh..opq", "")
              .file("up/.wh..wh..opq", "")
              .end()
              .bytes());
  x.finish();
  CHECK(contents_of(outside + "/victim") == "host data");
}

TEST_CASE("an opaque marker at the top hides every lower entry") {
  Extraction x;
  x.apply(TarBuilder().file("a", "a").file("d/b", "b").end().bytes());
  x.apply(TarBuilder().file("c", "c").file(".wh..wh..opq", "").end().bytes());
  x.finish();
  CHECK_FALSE(exists(x.in_root("a")));
  CHECK_FALSE(exists(x.in_root("d")));
  CHECK(contents_of(x.in_root("c")) == "c");
}

TEST_CASE("whiteouts that name no file are refused") {
  Extraction x;
  CHECK_THROWS_WITH_AS(x.apply(TarBuilder().file("d/.wh.", "").end().bytes()),
                       "layer0.tar: d/.wh.: whiteout names no file", FormatError);
  CHECK_THROWS_WITH_AS(x.apply(TarBuilder().file(".wh..", "").end().bytes()),
                       "layer1.tar: .wh..: whiteout names no file", FormatError);
}

TEST_CASE("aufs bookkeeping entries are not written") {
  Extraction x;
  x.apply(TarBuilder().file(".wh..wh.plnk/12.34", "x").directory(".wh..wh.aufs/").file("kept", "k").end().bytes());
  x.finish();
  CHECK_FALSE(exists(x.in_root(".wh..wh.plnk")));
  CHECK_FALSE(exists(x.in_root(".wh..wh.aufs")));
  CHECK(contents_of(x.in_root("kept")) == "k");
}

TEST_CASE("a read-only directory still receives later entries") {
  Extraction x;
  x.apply(TarBuilder().directory("ro/", 0555).file("ro/a", "a").end().bytes());
  x.apply(TarBuilder().file("ro/b", "b").directory("ro/sub/", 0500).file("ro/sub/c", "c").end().bytes());
  x.finish();
  CHECK(mode_of(x.in_root("ro")) == 0555);
  CHECK(mode_of(x.in_root("ro/sub")) == 0500);
  CHECK(contents_of(x.in_root("ro/b")) == "b");
  CHECK(contents_of(x.in_root("ro/sub/c")) == "c");
}

TEST_CASE("replacing a hardlinked file leaves the other link alone") {
  Extraction x;
  x.apply(TarBuilder().file("a", "data").hardlink("b", "a").end().bytes());
  x.apply(TarBuilder().file("a", "new").end().bytes());
  x.finish();
  CHECK(contents_of(x.in_root("a")) == "new");
  CHECK(contents_of(x.in_root("b")) == "data");
}

TEST_CASE("the root entry sets the output directory's mode and mtime") {
  Extraction x;
  x.apply(TarBuilder().directory("./", 0750, 1234567).file("f", "f").end().bytes());
  x.finish();
  const std::string root = x.in_root("");
  CHECK(mode_of(root) == 0750);
  CHECK(lstat_of(root)->st_mtim.tv_sec == 1234567);
}

TEST_CASE("only a directory can stand at the root") {
  Extraction x;
  CHECK_THROWS_WITH_AS(x.apply(TarBuilder().file("./", "x").end().bytes()),
                       "layer0.tar: ./: only a directory can stand at the root", FormatError);
}

TEST_CASE("FIFOs, and device nodes where permitted") {
  Extraction x;
  x.apply(TarBuilder()
              .add(Header{.name = "fifo", .typeflag = '6', .mode = 0620, .mtime = 777})
              .end()
              .bytes());
  const std::optional<struct stat> fifo = lstat_of(x.in_root("fifo"));
  REQUIRE(fifo);
  CHECK(S_ISFIFO(fifo->st_mode));
  CHECK((fifo->st_mode & 07777) == 0620);
  CHECK(fifo->st_mtim.tv_sec == 777);

  const Buffer devices = TarBuilder()
                             .add(Header{.name = "null", .typeflag = '3', .mode = 0666, .devmajor = 1, .devminor = 3})
                             .add(Header{.name = "loop0", .typeflag = '4', .mode = 0660, .devmajor = 7, .devminor = 0})
                             .end()
                             .bytes();
  if (::geteuid() != 0) {
    CHECK_THROWS_WITH_AS(x.apply(devices), "layer1.tar: null: cannot create the device node: Operation not permitted",
                         EntryError);
    return;
  }
  x.apply(devices);
  const std::optional<struct stat> null = lstat_of(x.in_root("null"));
  const std::optional<struct stat> loop = lstat_of(x.in_root("loop0"));
  REQUIRE((null && loop));
  CHECK(S_ISCHR(null->st_mode));
  CHECK(major(null->st_rdev) == 1);
  CHECK(minor(null->st_rdev) == 3);
  CHECK((null->st_mode & 07777) == 0666);
  CHECK(S_ISBLK(loop->st_mode));
  CHECK(major(loop->st_rdev) == 7);
}

TEST_CASE("missing parent directories are made 0755") {
  Extraction x;
  x.apply(TarBuilder().file("a/b/c", "deep").end().bytes());
  x.finish();
  CHECK(mode_of(x.in_root("a")) == 0755);
  CHECK(mode_of(x.in_root("a/b")) == 0755);
  CHECK(contents_of(x.in_root("a/b/c")) == "deep");
}

TEST_CASE("remove_children empties a directory whose descriptor was already read to its end") {
  // The restart of a failed plan empties the output through RootDir's
  // descriptor, which may have been read already: a duplicate would list nothing.
  test::ScopedTempDir temp;
  const std::string dir = temp.path() + "/out";
  REQUIRE(mkdir(dir.c_str(), 0755) == 0);
  REQUIRE(mkdir((dir + "/sub").c_str(), 0755) == 0);
  std::ofstream(dir + "/sub/file") << "x";
  std::ofstream(dir + "/top") << "y";
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  read_to_end(fd);
  CHECK(remove_children(fd));
  close(fd);
  struct stat info {};
  CHECK(lstat((dir + "/top").c_str(), &info) != 0);
  CHECK(lstat((dir + "/sub").c_str(), &info) != 0);
  CHECK(lstat(dir.c_str(), &info) == 0);
}

TEST_CASE("a directory whose descriptor was already read to its end is not taken for empty") {
  // RootDir asks whether DIR held anything before the run: a DIR taken for
  // empty by mistake would be written as if nothing of its own were there.
  test::ScopedTempDir temp;
  const std::string dir = temp.path() + "/out";
  REQUIRE(mkdir(dir.c_str(), 0755) == 0);
  write_host_file(dir + "/kept", "x");
  Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(fd.valid());
  read_to_end(fd.get());
  CHECK_FALSE(is_empty_directory(fd.get()));
  const RootDir root(std::move(fd), "out");
  CHECK_FALSE(root.was_empty());
}

TEST_CASE("a directory holding nothing but . and .. is empty") {
  test::ScopedTempDir temp;
  const Fd fd(open(temp.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(fd.valid());
  CHECK(is_empty_directory(fd.get()));
}

TEST_SUITE_END();

}  // namespace undocker::fs
