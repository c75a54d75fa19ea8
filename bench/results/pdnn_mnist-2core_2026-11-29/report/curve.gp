# gnuplot curve.gp (data: series_*.dat)
set terminal pngcairo size 900,560
set output 'curve.png'
set title 'p-DNN test accuracy against samples per inference, mnist'
set xlabel 'samples T (mean logits of T samples)'
set ylabel 'test accuracy'
set logscale x
set grid
set key bottom right
set xrange [0.8:150]
plot 'series_0.dat' using 1:2 with linespoints lw 2 title 'sample-aware (s=1) [pbit]', 'series_1.dat' using 1:2 with linespoints lw 2 title 'sample-aware (s=4) [pbit4]', 0.9743 with lines dt 2 lw 2 title 'deterministic 1-bit [quant1]', 0.979 with lines dt 2 lw 2 title 'deterministic 2-bit [quant2]', 0.9785 with lines dt 2 lw 2 title 'deterministic 3-bit [quant3]', 0.9777 with lines dt 2 lw 2 title 'deterministic fp32 [tanh]', 'series_6.dat' using 1:2 with linespoints lw 2 title 'noise-injected (tanh) [tanh+pbit noise]'
