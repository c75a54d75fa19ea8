# gnuplot hardware.gp (data: hardware.dat)
set terminal pngcairo size 900,520
set output 'hardware.png'
set title 'p-DNN 784-256-256-10 on imperfect p-bits: accuracy on the device (MNIST)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'test accuracy on the device (%)'
set yrange [85:100]
set grid ytics
set key top left
plot 'hardware.dat' using 2:xtic(1) title 'trained on ideal p-bits', '' using 3 title 'physics-aware (PAT)', '' using 4 title 'in situ'
