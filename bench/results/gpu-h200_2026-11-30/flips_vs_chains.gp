# gnuplot flips_vs_chains.gp  (data: flips_vs_chains.dat; scripts/kit_report.py)
set terminal pngcairo size 1500,520 noenhanced
set output 'flips_vs_chains.png'
set logscale xy
set xlabel 'chains'
set ylabel 'flips/ns'
set grid
set yrange [5:1000]
set key top left font ',9'
set multiplot layout 1,3 title 'Gibbs throughput against chains (FPGA: modeled, one chain)'
set title 'g12'
plot 'flips_vs_chains.dat' index 0 with linespoints lc rgb '#ff7f0e' pt 5 title 'fast kernel', \
     'flips_vs_chains.dat' index 1 with linespoints lc rgb '#ff7f0e' dt 2 pt 4 title 'fast kernel, best shape', \
     'flips_vs_chains.dat' index 2 with linespoints lc rgb '#1f77b4' pt 7 title 'simple kernel', \
     50 with lines dt 3 lc rgb 'gray40' title 'FPGA 50-64 flips/ns', \
     64 with lines dt 3 lc rgb 'gray40' notitle
set title 'pegasus14'
plot 'flips_vs_chains.dat' index 3 with linespoints lc rgb '#ff7f0e' pt 5 title 'fast kernel', \
     'flips_vs_chains.dat' index 4 with linespoints lc rgb '#ff7f0e' dt 2 pt 4 title 'fast kernel, best shape', \
     'flips_vs_chains.dat' index 5 with linespoints lc rgb '#1f77b4' pt 7 title 'simple kernel', \
     'flips_vs_chains.dat' index 6 with linespoints lc rgb '#d62728' pt 9 title 'thrml (JAX)', \
     50 with lines dt 3 lc rgb 'gray40' title 'FPGA 50-64 flips/ns', \
     64 with lines dt 3 lc rgb 'gray40' notitle
set title 'zephyr10'
plot 'flips_vs_chains.dat' index 7 with linespoints lc rgb '#ff7f0e' pt 5 title 'fast kernel', \
     'flips_vs_chains.dat' index 8 with linespoints lc rgb '#ff7f0e' dt 2 pt 4 title 'fast kernel, best shape', \
     'flips_vs_chains.dat' index 9 with linespoints lc rgb '#1f77b4' pt 7 title 'simple kernel', \
     50 with lines dt 3 lc rgb 'gray40' title 'FPGA 50-64 flips/ns', \
     64 with lines dt 3 lc rgb 'gray40' notitle
unset multiplot
