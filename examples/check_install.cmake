# Installs the built pbit into a scratch prefix, then configures, builds and runs a consumer project
# that uses find_package(pbit), with the flags pbit was built with (a sanitizer build's consumer must
# link the sanitizer runtime too).
file(REMOVE_RECURSE "${WORK}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK}/prefix"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
# The installed command line starts from the prefix, its library found beside it (without
# LD_LIBRARY_PATH, which would hide a missing run path).
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH "${WORK}/prefix/bin/pbit" --version
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "^pbit ")
  message(FATAL_ERROR "the installed pbit does not start (${rc}): ${out}${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SRC}" -B "${WORK}/build" -G "${GENERATOR}"
                        -DCMAKE_PREFIX_PATH=${WORK}/prefix "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
                        "-DCMAKE_EXE_LINKER_FLAGS=${EXE_LINKER_FLAGS}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the find_package(pbit) consumer failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK}/build" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer failed (${rc})")
endif()
# From a folder outside the source tree, given the prefix: it checks that the install finds its own data there.
file(REAL_PATH "${WORK}/prefix" prefix)
# (PBIT_DATA_DIR would come first in the search, and LD_LIBRARY_PATH could load a build tree's library.)
execute_process(COMMAND ${CMAKE_COMMAND} -E env --unset=PBIT_DATA_DIR --unset=LD_LIBRARY_PATH "${WORK}/build/consumer" "${prefix}"
                WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer failed (${rc})")
endif()
