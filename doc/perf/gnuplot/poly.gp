# drawn by bench/plot; run from /work/main/doc/perf: gnuplot gnuplot/poly.gp
set terminal pngcairo size 1100,640 font 'DejaVu Sans,11' linewidth 1
set output "poly.png"
set termoption noenhanced
set title "Seed 3: a.x^3 + b.x^2 + c.x + d over a 10^4 grid of (a, b, c, d) and 50 points x\nIntel(R) Xeon(R) Processor, 2 CPUs, 2026-11-23; median of 5 rounds, band: fastest to slowest round"
set logscale y
set format y '%.0s%cs'
set ylabel 'time per call (s)'
set grid xtics ytics mxtics mytics lc rgb '#d8d8d8' lw 1, lc rgb '#efefef' lw 1
set key outside right top vertical Left reverse noautotitle spacing 1.2 width 1
set border 3 lc rgb '#404040'
set tics nomirror
set style fill transparent solid 0.15 noborder
set bars small
set xrange [-0.6:5.6]
set xtics ("jobpool" 0, "joblib" 1, "NumPy" 2, "Pool" 3, "Python loop" 4, "C loop" 5)
set xtics scale 0
set bmargin 6
set grid noxtics
set xlabel "10^4 tuples x 50 points"
set xtics rotate by -25
plot "gnuplot/poly.dat" index 0 using 1:2:3:4 with yerrorbars lc rgb '#0050c8' lw 3 pt 7 ps 1.6 title "jobpool", \
     "gnuplot/poly.dat" index 1 using 1:2:3:4 with yerrorbars lc rgb '#d62020' lw 2.5 pt 11 ps 1.6 title "joblib", \
     "gnuplot/poly.dat" index 2 using 1:2:3:4 with yerrorbars lc rgb '#ff9900' lw 2.5 pt 13 ps 1.6 title "NumPy", \
     "gnuplot/poly.dat" index 3 using 1:2:3:4 with yerrorbars lc rgb '#8e3fbf' lw 2.5 pt 15 ps 1.6 title "Pool", \
     "gnuplot/poly.dat" index 4 using 1:2:3:4 with yerrorbars lc rgb '#7f5f3f' lw 2 pt 4 ps 1.6 title "Python loop", \
     "gnuplot/poly.dat" index 5 using 1:2:3:4 with yerrorbars lc rgb '#606060' lw 1.5 pt 6 ps 1.6 title "C loop"
