# The CUDA emulator (kernels/cuda/emulator/cuda_runtime.h): pbit's .cu sources compiled as C++ against
# a host emulation of the CUDA runtime, so the kernels and the engine run in tests without a GPU.
#
# As a script (cmake -DIN=x.cu -DOUT=x.cpp -P cuda_emulator.cmake): writes OUT, a copy of IN whose
# kernel launches `k<<<grid, block, smem, stream>>>(args)` (one line each) call
# ::pbit::emu::launch("k", k, grid, block, smem, stream)(args), whose `extern __shared__ T S[];` is a
# pointer to the block's dynamic shared memory and `__shared__ T x[N];` one to the block's own array
# (pbit::emu::block_shared), and whose `__launch_bounds__(n)` becomes a check of the block's size at the
# top of the kernel's body (pbit::emu::launch_bounds). Anything it cannot rewrite fails the build.
# As an include: pbit_emulated_cuda_sources(OUT_VAR src.cu...) adds the rules and returns the .cpp files.

if(CMAKE_SCRIPT_MODE_FILE)
  execute_process(
    COMMAND sed -E
            -e "s/^([[:space:]]*)([^[:space:]].*[^[:space:]])<<<(.*)>>>\\(/\\1::pbit::emu::launch(\"\\2\", \\2, \\3)(/"
            -e "s/extern __shared__ (__align__\\([0-9]+\\) )?([A-Za-z_0-9:]+) ([A-Za-z_0-9]+)\\[\\];/\\2* const \\3 = static_cast<\\2*>(::pbit::emu::dynamic_shared());/"
            -e "s/__shared__ (__align__\\([0-9]+\\) )?([A-Za-z_0-9:]+) ([A-Za-z_0-9]+)\\[([^]]+)\\];/\\2* const \\3 = static_cast<\\2*>(::pbit::emu::block_shared(\"\\3\", sizeof(\\2) * (\\4)));/"
            -e "s/__launch_bounds__\\(([^)]*)\\)(.*\\{)[[:space:]]*$/\\2 ::pbit::emu::launch_bounds(\\1);/"
            ${IN}
    OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cuda_emulator: sed failed on ${IN}")
  endif()
  foreach(left "<<<" ">>>" "__shared__" "__launch_bounds__")
    string(FIND "${text}" "${left}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "cuda_emulator: ${IN} has a '${left}' it cannot rewrite (a launch on one line: kernel<<<...>>>(...); shared arrays as __shared__ T x[N]; or extern __shared__ T x[]; __launch_bounds__ on the line that opens the kernel's body)")
    endif()
  endforeach()
  file(WRITE ${OUT}.tmp "// Generated from ${IN} by cmake/cuda_emulator.cmake: do not edit.\n#line 1 \"${IN}\"\n${text}")
  file(RENAME ${OUT}.tmp ${OUT})
  return()
endif()

function(pbit_emulated_cuda_sources out_var)
  set(outs)
  foreach(cu ${ARGN})
    get_filename_component(name ${cu} NAME_WE)
    get_filename_component(dir ${cu} DIRECTORY)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/cuda_emulated/${name}.cpp)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DIN=${CMAKE_CURRENT_SOURCE_DIR}/${cu} -DOUT=${out} -P ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${cu} ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
      COMMENT "CUDA emulator: ${cu} as C++")
    set_source_files_properties(${out} PROPERTIES
      COMPILE_DEFINITIONS "__CUDACC__=1;__CUDA_ARCH__=900"
      COMPILE_OPTIONS "-Wno-unknown-pragmas;-Wno-missing-field-initializers;-Wno-sign-compare;-ffp-contract=off"
      INCLUDE_DIRECTORIES "${PROJECT_SOURCE_DIR}/kernels/cuda/emulator;${CMAKE_CURRENT_SOURCE_DIR}/${dir}")
    list(APPEND outs ${out})
  endforeach()
  set(${out_var} ${outs} PARENT_SCOPE)
endfunction()
