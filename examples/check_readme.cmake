# Fails unless README.md contains examples/quickstart.cpp verbatim.
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
string(FIND "${readme}" "${example}" pos)
if(pos EQUAL -1)
  message(FATAL_ERROR "README.md does not contain examples/quickstart.cpp verbatim; update the README's example")
endif()
message(STATUS "README example is in sync with examples/quickstart.cpp")
