# Turns a file into a C++ header holding its bytes, so that the binary carries
# it (the web page needs no files at run time).
#   cmake -DINPUT=in.html -DOUTPUT=out.h -DNAME=kIndexHtml -P embed_file.cmake
# The header declares spoofd::web::NAME (unsigned char[]) and NAMESize.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# Break the array into lines of 32 bytes for the compiler's and readers' sake.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){32})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed_file.cmake: do not edit.\n"
  "#pragma once\n#include <cstddef>\nnamespace spoofd::web {\n"
  "inline constexpr unsigned char ${NAME}[] = {\n${bytes}0x00};\n"
  "// Without the terminating zero added above.\n"
  "inline constexpr std::size_t ${NAME}Size = sizeof(${NAME}) - 1;\n"
  "}  // namespace spoofd::web\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
