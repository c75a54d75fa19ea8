# gnuplot hardware.gp (data: hardware.dat)
set terminal pngcairo size 800,500
set output 'hardware.png'
set title 'EqProp 784-120-40 (MNIST/100) on imperfect p-bits: accuracy on the device'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'test accuracy on the device (%)'
set yrange [0:100]
set grid ytics
set key outside below horizontal
plot 'hardware.dat' using 2:xtic(1) title 'trained on the ideal sampler', '' using 3 title 'physics-aware (PAT)', '' using 4 title 'trained in situ', 85.050000 with lines dt 2 title 'ideal-trained on ideal p-bits'
