# gnuplot tempering.gp (data: tempering.dat)
set terminal pngcairo size 800,500
set output 'tempering.png'
set title 'Sparse DBM inference at equal flips: plain Gibbs vs 4-replica tempering'
set xlabel 'sweeps per image, all replicas counted'
set ylabel 'test accuracy (%)'
set logscale x
set grid
set key bottom right
plot 'tempering.dat' using 1:2 with linespoints lw 2 title 'plain Gibbs', '' using 1:3 with linespoints lw 2 title 'parallel tempering'
