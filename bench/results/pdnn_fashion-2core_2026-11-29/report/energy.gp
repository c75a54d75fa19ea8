# gnuplot energy.gp (data: series_*.dat)
set terminal pngcairo size 1300,600
set output 'energy.png'
set multiplot layout 1,2 title 'energy per inference (Ghantasala et al. model, configs/platforms.json) against test accuracy'
set xlabel 'energy per inference (J)'
set ylabel 'test accuracy'
set logscale x
set format x '10^{%L}'
set grid
set key bottom right font ',9'
set title 'weights in SRAM'
plot 'series_0.dat' using 3:2 with linespoints lw 2 title 'sample-aware (s=1) [pbit]', 'series_1.dat' using 3:2 with linespoints lw 2 title 'sample-aware (s=4) [pbit4]', 'series_2.dat' using 3:2 with points ps 2 lw 2 title 'deterministic 1-bit [quant1]', 'series_3.dat' using 3:2 with points ps 2 lw 2 title 'deterministic 2-bit [quant2]', 'series_4.dat' using 3:2 with points ps 2 lw 2 title 'deterministic 3-bit [quant3]', 'series_5.dat' using 3:2 with points ps 2 lw 2 title 'deterministic fp32 [tanh]', 'series_6.dat' using 3:2 with linespoints lw 2 title 'noise-injected (tanh) [tanh+pbit noise]'
set title 'weights in DRAM'
plot 'series_0.dat' using 4:2 with linespoints lw 2 title 'sample-aware (s=1) [pbit]', 'series_1.dat' using 4:2 with linespoints lw 2 title 'sample-aware (s=4) [pbit4]', 'series_2.dat' using 4:2 with points ps 2 lw 2 title 'deterministic 1-bit [quant1]', 'series_3.dat' using 4:2 with points ps 2 lw 2 title 'deterministic 2-bit [quant2]', 'series_4.dat' using 4:2 with points ps 2 lw 2 title 'deterministic 3-bit [quant3]', 'series_5.dat' using 4:2 with points ps 2 lw 2 title 'deterministic fp32 [tanh]', 'series_6.dat' using 4:2 with linespoints lw 2 title 'noise-injected (tanh) [tanh+pbit noise]'
unset multiplot
