# Run at build time (not configure time) so the git sha in every binary is the one it was built from.
# configure_file rewrites the output only when its content changes, so an unchanged sha relinks nothing.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE PBIT_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE PBIT_GIT_DIRTY OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT PBIT_GIT_SHA)
  set(PBIT_GIT_SHA "unknown")
elseif(PBIT_GIT_DIRTY)
  set(PBIT_GIT_SHA "${PBIT_GIT_SHA}-dirty")
endif()
configure_file(${SRC}/cmake/build_info.cpp.in ${OUT} @ONLY)
