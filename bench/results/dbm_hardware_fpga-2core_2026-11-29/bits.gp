# gnuplot bits.gp (data: bits.dat)
set terminal pngcairo size 800,500
set output 'bits.png'
set title 'Sparse DBM on fixed-point couplings: accuracy against weight bits (MNIST)'
set xlabel 'bits per coupling and bias'
set ylabel 'test accuracy (%)'
set grid
set key bottom right
plot 'bits.dat' using 1:2 with linespoints lw 2 title 'trained on the ideal sampler', '' using 1:3 with linespoints lw 2 title 'trained in situ', 65.580000 with lines dt 2 title 'ideal on ideal'
