# gnuplot slow.gp (data: slow.dat)
set terminal pngcairo size 1200,480
set output 'slow.png'
set multiplot layout 1,2 title 'Slow-mixing sparse DBM (15 epochs, no weight decay; 64.9% at 300 sweeps), test images 0-999'
set logscale x
set grid
set key bottom right
set ylabel 'test accuracy (%)'
set yrange [25:80]
set title 'equal flips (every replica counted)'
set xlabel 'replica-sweeps per image'
plot 'slow.dat' using 1:2 with linespoints lw 3 lc rgb 'black' title 'plain Gibbs', \
     '' using 1:3 with linespoints lw 2 title '8 replicas, beta 1 to 0.7 (swap acc. 0.21-0.40)', \
     '' using 1:4 with linespoints lw 2 title '4 replicas, beta 1 to 0.8 (swap acc. 0.07-0.18)'
set title 'equal sweeps of the target replica'
set xlabel 'sweeps per image of the beta = 1 chain'
plot 'slow.dat' using 1:2 with linespoints lw 3 lc rgb 'black' title 'plain Gibbs', \
     '' using 5:3 with linespoints lw 2 title '8 replicas', \
     '' using 6:4 with linespoints lw 2 title '4 replicas'
unset multiplot
