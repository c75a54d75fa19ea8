# gnuplot fid.gp (data: fid_*.dat)
set terminal pngcairo size 900,560
set output 'fid.png'
set title 'p-DNN generator: feature-FID against samples per image, mnist'
set xlabel 'samples T (mean of T decoder samples)'
set ylabel 'feature-FID (lower is better)'
set logscale x
set xrange [0.8:150]
set grid
set key top right
plot 'fid_0.dat' using 1:2 with linespoints lw 2 title 'sample-aware decoder (s=1)', 'fid_1.dat' using 1:2 with linespoints lw 2 title 'sample-aware decoder (s=4)', 21.3758 with lines dt 2 lw 2 title 'tanh decoder', 'fid_3.dat' using 1:2 with linespoints lw 2 title 'noise-injected tanh decoder', 21.9613 with lines dt 3 lc rgb 'black' title 'training images against test images'
