# gnuplot mixing.gp (data: curve_*.dat)
set terminal pngcairo size 1200,500
set output 'mixing.png'
set multiplot layout 1,2 title 'MEBM (Fashion-MNIST 14x14 on 28x28 G12): autocorrelation at equal flips'
set xlabel 'lag (replica-sweeps: every replica counted)'
set ylabel 'autocorrelation r'
set grid
set logscale x
set xrange [48:*]
set yrange [-0.05:0.5]
set key top right
set title 'MEBM, ACP on (3 epochs)'
plot 'curve_acp_2_0.7.dat' using 1:2 with lines lw 3 lc rgb 'black' title 'plain Gibbs', 'curve_acp_2_0.7.dat' using 1:3 with lines lw 2 title '2 replicas to beta 0.7', 'curve_acp_4_0.5.dat' using 1:3 with lines lw 2 title '4 replicas to beta 0.5', 'curve_acp_8_0.3.dat' using 1:3 with lines lw 2 title '8 replicas to beta 0.3', 'curve_acp_8_0.5_400.dat' using 1:3 with lines lw 2 title '8 replicas to beta 0.5, adaptive', 'curve_acp_16_0.3_400.dat' using 1:3 with lines lw 2 title '16 replicas to beta 0.3, adaptive'
set title 'MEBM, ACP off (slow mixer)'
plot 'curve_noacp_2_0.7.dat' using 1:2 with lines lw 3 lc rgb 'black' title 'plain Gibbs', 'curve_noacp_2_0.7.dat' using 1:3 with lines lw 2 title '2 replicas to beta 0.7', 'curve_noacp_4_0.5.dat' using 1:3 with lines lw 2 title '4 replicas to beta 0.5', 'curve_noacp_8_0.3.dat' using 1:3 with lines lw 2 title '8 replicas to beta 0.3', 'curve_noacp_8_0.5_400.dat' using 1:3 with lines lw 2 title '8 replicas to beta 0.5, adaptive', 'curve_noacp_16_0.3_400.dat' using 1:3 with lines lw 2 title '16 replicas to beta 0.3, adaptive'
unset multiplot
