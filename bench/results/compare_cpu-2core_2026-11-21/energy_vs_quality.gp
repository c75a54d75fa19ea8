# gnuplot energy_vs_quality.gp  (data: energy_vs_quality.dat)
set terminal pngcairo size 900,600 noenhanced
set output 'energy_vs_quality.png'
set logscale x
set xlabel 'energy per sample (J)'
set ylabel 'feature-FID (lower is better)'
set grid
set title 'Energy per sample vs quality (cf. Jelincic et al. 2025, Fig. 1)'
plot 'energy_vs_quality.dat' index 0 using 1:2 with points pt 7 ps 1.5 title 'modeled RNG chip', '' index 0 using 1:2:3 with labels offset 1,1 notitle
