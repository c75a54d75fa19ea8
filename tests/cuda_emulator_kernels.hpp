// Host entry points of cuda_emulator_kernels.cu (probes of the CUDA emulator's semantics).
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

namespace pbit::test::emu_kernels {
/// __ballot_sync((lane + block) % 3 == 0) of every thread, the last warp partial when `threads` is
/// not a multiple of 32 (its mask names only its lanes).
std::vector<unsigned> ballots(unsigned blocks, unsigned threads);
/// out[t] = in[t + 1 within the block], through dynamic shared memory and a barrier.
std::vector<int> rotate(const std::vector<int>& in, unsigned blocks);
/// Each warp's lane 0 writes its warp number to shared memory and every thread reads the next
/// warp's, with no barrier in between (a race: the answer depends on the order warps run in).
std::vector<int> racy_warp_rotate(unsigned warps);
/// 1000 y + x for every thread (x, y) of a gx x gy grid of bx x by blocks, row-major.
std::vector<int> ids(unsigned bx, unsigned by, unsigned gx, unsigned gy);
/// A static __shared__ int[64] that block 0 fills and the other blocks only read, as read by every
/// thread of `blocks` blocks of 64.
std::vector<int> static_shared(unsigned blocks);
/// Half a block at __syncthreads, the other half exits (the emulator must stop the process: the
/// programming guide allows a barrier in conditional code only when the whole block takes it).
void divergent_barrier();
/// Half a warp at __syncthreads, half at __ballot_sync (the emulator must stop the process).
void deadlock();
/// A full-warp ballot after one lane returned (the emulator must stop the process).
void ballot_after_exit();
/// What a block reads from dynamic shared memory nobody wrote.
std::vector<int> unwritten_shared(unsigned threads);
/// What cudaMalloc'd memory holds before anyone writes it.
std::vector<unsigned char> fresh_device_bytes(size_t n);
/// cudaGetLastError after launching with grid (1, blocks_y), `threads` per block and `smem` bytes of
/// dynamic shared memory, after setting the kernel's limit to smem_attribute (when >= 0).
int launch_error(unsigned blocks_y, unsigned threads, size_t smem, int smem_attribute);
/// A kernel on a stream created with `flags` fills 64 ints with 7; then (after cudaStreamSynchronize
/// of that stream, when `synchronize`) cudaMemcpy reads them back on the legacy default stream.
std::vector<int> filled_on_stream(unsigned flags, bool synchronize);
/// On a non-blocking stream: a kernel filling n ints with 7 and cudaMemcpyAsync of them into a host
/// buffer of -1s (the buffer right after that call), then cudaMemcpyAsync of n 3s from a host buffer
/// that is set to 4s right after the call (what the device got, after cudaStreamSynchronize).
std::pair<std::vector<int>, std::vector<int>> async_copies(unsigned n);
/// A kernel declared __launch_bounds__(64), launched with `threads` per block: the number of threads
/// that ran.
int bounded(unsigned threads);
/// A kernel launched with a pointer to host memory (the emulator must stop the process).
void launch_with_host_pointer();
/// A ballot whose mask leaves out half the lanes that call it (the emulator must stop the process).
void ballot_mask_excludes_caller();
/// Kernels launched so far with `device` current (pbit::emu::launches_on_device).
long long launches_on_device(int device);
/// The calling thread's current device (cudaGetDevice), and cudaSetDevice's result (0: success).
int current_device();
int set_device(int device);
}  // namespace pbit::test::emu_kernels
