# gnuplot fid.gp (data: fid.dat)
set terminal pngcairo size 800,500
set output 'fid.png'
set title 'p-DNN generator (pbit decoder units), mnist'
set xlabel 'samples T (mean of T decoder samples)'
set ylabel 'feature-FID (lower is better)'
set logscale x
set grid
plot 'fid.dat' using 1:2 with linespoints lw 2 title 'generated', 21.9613 with lines dt 2 title 'training images (floor)'
