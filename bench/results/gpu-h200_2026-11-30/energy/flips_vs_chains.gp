# gnuplot flips_vs_chains.gp  (data: flips_vs_chains.dat)
set terminal pngcairo size 900,600 noenhanced
set output 'flips_vs_chains.png'
set logscale xy
set xlabel 'chains'
set ylabel 'flips/ns'
set key outside right
set grid
set title 'Gibbs throughput vs chains (FPGA: one chain, Niazi 2024)'
fpga_lo = 50
fpga_hi = 64
plot 'flips_vs_chains.dat' index 0 with linespoints title 'gibbs_pegasus14 / cuda', fpga_lo with lines dt 2 lc rgb 'black' title 'FPGA 50 flips/ns', fpga_hi with lines dt 3 lc rgb 'black' title 'FPGA 64 flips/ns'
