// --nspawn: a systemd-nspawn settings file (DIR.nspawn) from the image
// config, so that `systemd-nspawn -D DIR` runs what `docker run` would.
#pragma once

#include <string>
#include <string_view>

#include "util/bytes.hpp"

namespace undocker::output {

/// The text of a .nspawn file for the image config config_json (OCI or
/// Docker: its "config" object, or the legacy "container_config" when
/// "config" is absent). config_member names the config in the header
/// comment and in errors. Throws FormatError when the JSON is malformed.
///
/// The mapping, all in [Exec]:
///   Env                → Environment=NAME=VALUE, one line each
///   WorkingDir         → WorkingDirectory= (made absolute, as Docker does)
///   User "u" / "u:g"   → User=u (a name or a number, both resolved inside
///                        the container); a group is only noted in a comment
///   Entrypoint + Cmd   → Parameters=, one word per argument, after
///                        Boot=no (nspawn ignores Parameters= from a file
///                        without a start mode); neither line when both are
///                        empty or null
/// Nothing else: only what the config says. nspawn resolves User= with
/// getent inside the container (only "root" and "0" without it).
std::string nspawn_settings(Bytes config_json, std::string_view config_member);

/// One word of a Parameters= or Environment= list, quoted so that
/// systemd-nspawn reads it back unchanged. nspawn splits these lists with
/// backslashes kept literally (no C escapes, unlike unit files), so a word
/// with whitespace or quotes is wrapped in the quote character it does not
/// contain, and one holding both kinds is made of quoted pieces
/// ("a'b"'"c'). Callers first drop words that are not quotable().
std::string quote_word(std::string_view word);

/// False for text no .nspawn line can hold: a line break or a NUL.
bool quotable(std::string_view word);

}  // namespace undocker::output
