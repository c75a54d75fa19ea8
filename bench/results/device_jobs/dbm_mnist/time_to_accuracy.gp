set terminal pngcairo size 1000,420 noenhanced
set output "time_to_accuracy.png"
set multiplot layout 1,2
set grid
set key outside bottom center horizontal
set ylabel "test accuracy"
labels = '"test accuracy"'
set xlabel "training seconds (all leases)"
plot for [i=1:words(labels)] "time_to_accuracy.dat" index (i-1) using 1:3 with linespoints pt 7 title word(labels, i)
set xlabel "training flips (all leases)"
set logscale x
plot for [i=1:words(labels)] "time_to_accuracy.dat" index (i-1) using 2:3 with linespoints pt 7 title word(labels, i)
unset multiplot
